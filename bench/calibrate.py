"""How often is `facedata validate` right on real, hand-labelled photos?

Measures every photo of the calibration set (`labels.csv` and the photos beside it, default
`../shared/fixtures/calibration` from the repository root) with the validator's own code —
`pipeline.measure.measure_photos` (the decode `pipeline.images.decode(long_side=...)`, MTCNN
and the landmark model of `FaceAnalyzer`) and `judge_photo` with the limits of params.yaml — and
prints, as markdown:

- per rule: photos labelled with it, fired, true positives, false positives, false negatives;
- the verdicts: photos right, good photos falsely rejected, accuracy on the non-ambiguous photos;
- the expression warning's agreement with the `expression` column;
- every photo the verdict gets wrong, with what was measured.

What "right" means (written into docs/RULES.md with the table):

- The judged rules are the content rules: every error rule except `not_jpeg` (the set holds PNG
  and WebP files labelled as if they were JPEGs; the `format` column) and `too_small` (objective,
  and labelled exactly when the shorter side is under 500 px; it is counted in the rule table
  but does not make a verdict right or wrong). Labels: `expected` without `pass` and `too_small`.
- A photo with no such label (`pass`, or only `too_small`) is right when no judged rule fires:
  it is a good photo, and any error on it is a false rejection.
- A photo with labels is right when at least one judged rule fires and at least one of the
  fired rules is among its labels: it is rejected, and the student is told a true reason. A
  wrong extra rule beside a right one does not make the verdict wrong (the photo should go
  either way) but counts as a false positive of that rule, and the "exact" column counts the
  photos whose fired rules are all among their labels.
- Ambiguous photos (a careful instructor could go either way) are measured and listed but kept
  out of the accuracy.
- Expression: the warning agrees when it is given to a photo labelled `smiling` or `other`, or
  not given to one labelled `neutral`; counted over the photos in which a face was found (no
  warning can be given without one).

Then, on the same measurements, each error limit of the face and exposure rules moved alone to
0.8-1.2 times its default: how many photos would be right, and how many good ones rejected.

    python bench/calibrate.py [FOLDER] [--all]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import os
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.config import ParamsError, ValidateParams, load_params
from pipeline.findings import Severity
from pipeline.images import ImageError, read_header, sniff_format
from pipeline.measure import MeasureCache, Photo, PhotoFile, measure_photos
from pipeline.rules import PHOTO_RULES, judge_photo
from pipeline.rules.face import away_from_camera

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "fixtures" / "calibration"
NOT_JUDGED = {"not_jpeg", "too_small"}  # see the module docstring
NOT_NEUTRAL = {"smiling", "other"}


@dataclass(frozen=True)
class Labelled:
    file: str
    labels: frozenset[str]  # judged rules the photo breaks (no pass, no too_small)
    too_small: bool
    expression: str
    ambiguous: bool
    format: str


@dataclass(frozen=True)
class Verdict:
    photo: Photo
    label: Labelled
    fired: frozenset[str]  # judged error rules that fired
    warned: bool  # the expression warning was given
    size_fired: bool  # too_small fired

    @property
    def good(self) -> bool:
        return not self.label.labels

    @property
    def right(self) -> bool:
        if self.good:
            return not self.fired
        return bool(self.fired & self.label.labels)

    @property
    def exact(self) -> bool:
        return self.right and self.fired <= self.label.labels

    @property
    def expression_agrees(self) -> bool:
        return self.warned == (self.label.expression in NOT_NEUTRAL)


def read_labels(folder: Path) -> list[Labelled]:
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        expected = set(r["expected"].split("|")) - {"pass", ""}
        out.append(Labelled(r["file"], frozenset(expected - {"too_small"}),
                            "too_small" in expected, r["expression"],
                            r["ambiguous"].strip().lower() == "true", r["format"]))
    return out


def photo_file(folder: Path, name: str) -> PhotoFile:
    """What ingest records about a file (format by content, size after EXIF orientation)."""
    path = folder / name
    data = path.read_bytes()
    try:
        header = read_header(data)
        width, height = header.width, header.height
    except ImageError:
        width = height = None
    return PhotoFile("calibration", name, hashlib.sha256(data).hexdigest(), len(data),
                     sniff_format(data), width, height, path.read_bytes)


def judge(photos: list[Photo], labels: list[Labelled], params: ValidateParams) -> list[Verdict]:
    verdicts = []
    for ph, lab in zip(photos, labels, strict=True):
        findings = judge_photo(ph, params)
        errors = {f.rule for f in findings if f.severity is Severity.ERROR}
        warned = any(f.rule == "expression" for f in findings)
        verdicts.append(Verdict(ph, lab, frozenset(errors - NOT_JUDGED), warned,
                                "too_small" in errors))
    return verdicts


def measured(ph: Photo) -> str:
    """The main face's measurements in a few words, for the listing of misses."""
    colour = f"colour {ph.chroma:.2f}" if ph.chroma is not None else "not decoded"
    face = ph.main_face
    if face is None:
        return f"{colour}, no face"
    parts = [colour, f"{len(ph.faces.faces)} face(s)",
             f"yaw {face.pose.yaw:+.1f} pitch {face.pose.pitch:+.1f} roll {face.pose.roll:+.1f} "
             f"turn {away_from_camera(face.pose):.1f}"]
    q = ph.faces.quality
    if q is not None:
        parts += [f"{k} {'–' if v is None else f'{v:.3g}'}" for k, v in vars(q).items()]
    return ", ".join(parts)


def rule_table(verdicts: list[Verdict]) -> list[str]:
    rules = [r for r, rule in PHOTO_RULES.items()
             if rule.severity is Severity.ERROR and r not in ("not_jpeg", "corrupt")]
    lines = ["| rule | labelled | fired | true pos. | false pos. | false neg. |",
             "|---|---:|---:|---:|---:|---:|"]
    for rule in rules:
        if rule == "too_small":
            lab = [v.label.too_small for v in verdicts]
            fired = [v.size_fired for v in verdicts]
        else:
            lab = [rule in v.label.labels for v in verdicts]
            fired = [rule in v.fired for v in verdicts]
        tp = sum(a and b for a, b in zip(lab, fired, strict=True))
        lines.append(f"| `{rule}` | {sum(lab)} | {sum(fired)} | {tp} | {sum(fired) - tp} | "
                     f"{sum(lab) - tp} |")
    return lines


def summary(verdicts: list[Verdict]) -> list[str]:
    clear = [v for v in verdicts if not v.label.ambiguous]
    good = [v for v in clear if v.good]
    bad = [v for v in clear if not v.good]
    right = sum(v.right for v in clear)
    lines = [
        "| photos | count | right | exact |",
        "|---|---:|---:|---:|",
        f"| non-ambiguous | {len(clear)} | {right} ({right / len(clear):.1%}) | "
        f"{sum(v.exact for v in clear)} |",
        f"| — good (pass or only too_small) | {len(good)} | {sum(v.right for v in good)} | "
        f"{sum(v.exact for v in good)} |",
        f"| — labelled with a rule | {len(bad)} | {sum(v.right for v in bad)} | "
        f"{sum(v.exact for v in bad)} |",
    ]
    amb = [v for v in verdicts if v.label.ambiguous]
    if amb:
        lines.append(f"| ambiguous (not counted) | {len(amb)} | {sum(v.right for v in amb)} | "
                     f"{sum(v.exact for v in amb)} |")
    rejected = [v.label.file for v in good if v.fired]
    lines += ["", f"Good photos falsely rejected: {len(rejected)} of {len(good)}"
              + (f" ({', '.join(rejected)})" if rejected else "") + "."]
    return lines


def expression_table(verdicts: list[Verdict]) -> list[str]:
    faced = [v for v in verdicts if v.photo.main_face is not None]
    agree = sum(v.expression_agrees for v in faced)
    lines = [f"Expression warning agrees with the label on {agree} of {len(faced)} photos with a "
             f"face ({agree / max(len(faced), 1):.1%}); non-ambiguous only: "
             + _share([v for v in faced if not v.label.ambiguous]) + ".", "",
             "| label | photos | warned | not warned |", "|---|---:|---:|---:|"]
    for label in ("neutral", "smiling", "other"):
        rows = [v for v in faced if v.label.expression == label]
        warned = sum(v.warned for v in rows)
        lines.append(f"| {label} | {len(rows)} | {warned} | {len(rows) - warned} |")
    return lines


def _share(verdicts: list[Verdict]) -> str:
    agree = sum(v.expression_agrees for v in verdicts)
    return f"{agree} of {len(verdicts)} ({agree / max(len(verdicts), 1):.1%})"


# The face rules' error limits, each moved alone by these factors of its default (the outline
# margin, whose default is near 0, by these steps in eye distances instead).
MOVED = ("max_turn", "max_roll", "min_head_height", "min_head_width", "max_edge_width",
         "max_cheek_ratio", "min_brightness", "max_brightness", "max_clipped", "min_highlights",
         "max_shadows", "multiple_faces_min_fraction")
FACTORS = (0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2)
STEPS = (-0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2)


def limit_table(photos: list[Photo], labels: list[Labelled], params: ValidateParams) -> list[str]:
    """Right verdicts on the non-ambiguous photos (and good photos falsely rejected) with one
    limit moved and every other at its default: how far the headline is from a limit's
    neighbourhood, on the same measurements."""
    def score(name: str, value: float) -> str:
        try:
            p = dataclasses.replace(params, **{name: value})
        except ParamsError:  # beyond what the setting allows (a luma over 255)
            return "–"
        clear = [v for v in judge(photos, labels, p) if not v.label.ambiguous]
        rejected = sum(1 for v in clear if v.good and v.fired)
        return f"{sum(v.right for v in clear)} ({rejected})"

    lines = ["| limit | " + " | ".join(f"×{f:g}" for f in FACTORS) + " |",
             "|---|" + "---:|" * len(FACTORS)]
    for name in MOVED:
        default = getattr(params, name)
        cells = [score(name, default * f) for f in FACTORS]
        lines.append(f"| `{name}` = {default:g} | " + " | ".join(cells) + " |")
    default = params.min_outline_margin
    cells = [score("min_outline_margin", default + d) for d in STEPS]
    lines.append(f"| `min_outline_margin` = {default:g} (+ {', '.join(f'{d:g}' for d in STEPS)}) | "
                 + " | ".join(cells) + " |")
    return lines


def listing(verdicts: list[Verdict], everything: bool) -> list[str]:
    lines = ["| photo | amb. | labels | fired | expr. label / warned | measured |",
             "|---|---|---|---|---|---|"]
    for v in verdicts:
        wrong = not v.right or not v.exact or not v.expression_agrees
        if not everything and not wrong:
            continue
        mark = "" if v.right else "**wrong** "
        lines.append(
            f"| {v.label.file} | {'yes' if v.label.ambiguous else ''} | "
            f"{', '.join(sorted(v.label.labels)) or 'good'} | "
            f"{mark}{', '.join(sorted(v.fired)) or 'pass'} | "
            f"{v.label.expression} / {'yes' if v.warned else 'no'} | {measured(v.photo)} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT,
                    help="the calibration set: labels.csv and the photos")
    ap.add_argument("--all", action="store_true", help="list every photo, not only the misses")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = ap.parse_args()
    if not (args.folder / "labels.csv").is_file():
        sys.exit(f"skipped: no calibration set at {args.folder} (labels.csv and its photos); "
                 "pass its folder as the first argument")

    params = load_params(args.params).validate
    labels = read_labels(args.folder)
    files = [photo_file(args.folder, lab.file) for lab in labels]
    start = time.perf_counter()
    photos = measure_photos(files, params, MeasureCache(None, params))
    seconds = time.perf_counter() - start
    verdicts = judge(photos, labels, params)

    print(f"Calibration set {args.folder}: {len(verdicts)} photos, measured in {seconds:.1f} s "
          f"on {platform.machine()} ({os.cpu_count()} cores, torch {torch.__version__}, "
          f"cuda {torch.cuda.is_available()}), limits from {args.params.name}.\n")
    clear = [v for v in verdicts if not v.label.ambiguous]
    print("### Rules (non-ambiguous photos)\n")
    print("\n".join(rule_table(clear)))
    print("\n### Verdicts\n")
    print("\n".join(summary(verdicts)))
    print("\n### Expression warning\n")
    print("\n".join(expression_table(verdicts)))
    print("\n### Each error limit moved alone\n")
    print(f"Right of the {len(clear)} non-ambiguous photos (good photos falsely rejected):\n")
    print("\n".join(limit_table(photos, labels, params)))
    print("\n### " + ("Every photo" if args.all else "Misses") + " (wrong verdict, an extra "
          "rule, or the expression warning disagreeing)\n")
    print("\n".join(listing(verdicts, args.all)))
    counts = Counter(v.right for v in clear)
    print(f"\nheadline: {counts[True]} of {len(clear)} non-ambiguous photos right "
          f"({counts[True] / len(clear):.1%}), "
          f"{sum(1 for v in clear if v.good and v.fired)} good photos falsely rejected, "
          f"expression agreement {_share([v for v in verdicts if v.photo.main_face])}")


if __name__ == "__main__":
    main()
