"""The report stage: one self-contained HTML page that a course can act on.

Everything lives inside `index.html`: thumbnails as base64 JPEG data URIs, charts as inline SVG,
CSS and JS inline. One file opens offline, can be mailed on its own (or zipped with the rest of
reports/), and no thumbnail folder can go stale or keep photos of a student who has since left the
class. The price is size: a 160-px thumbnail is ~6-9 KB, ~8-12 KB as base64, so 40 students × 40
photos stay around 15-20 MB, well under the 50 MB limit (bench/report_size.py measures it). Per
student the page shows at most MAX_SHOWN photos and MAX_SHOWN findings of each list, and says how
many more there are, so that one student's thousand files cannot make the page unopenable;
findings.csv holds them all.

The students come right after the overview, those with errors first, each card with the feedback
stage's message to that student (reports/feedback/, read through pipeline/formats/feedback.py, so
the page shows exactly what was written) and a button that copies it for an LMS comment.

Thumbnails are generated from the decoded photo (EXIF orientation applied, then re-encoded without
metadata); the original files are never copied. Everything that comes from students (file names,
CSV values, messages quoting them) goes through jinja2's autoescaping.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from pipeline.config import ReportParams
from pipeline.findings import Finding, Severity
from pipeline.formats.accepted import identities_of, read_accepted
from pipeline.formats.common import FormatError
from pipeline.formats.feedback import read_feedback
from pipeline.formats.findings import read_findings
from pipeline.formats.manifest import PHOTO, ManifestRow, read_manifest_rows
from pipeline.formats.metrics import HEADLINES, Record, read_details, read_metrics
from pipeline.images import ImageError, decode
from pipeline.io import atomic_path, worker_count
from pipeline.progress import Progress, no_progress, track
from pipeline.submissions import SubmissionError, read_member

THUMB_QUALITY = 80  # JPEG quality of thumbnails: faces stay recognisable at a third of q95's size
# Photos, and findings of each kind, shown per student: over twice the 40 photos a course asks
# for, and a page of 40 × 100 thumbnails still opens quickly.
MAX_SHOWN = 100
_PerStudent = TypeVar("_PerStudent", ManifestRow, Finding)  # what is capped per student
AGE_COLUMN = "age"
AGE_BIN = 10  # years per bar of the age histogram
MAX_CURVE_POINTS = 400  # a curve is drawn from at most this many points (keeps the SVG small)
# Photos shown per student and person in the identities section: enough to see that they are
# one person, without showing every photo of the class a second time.
PERSON_PHOTOS = 6
IDENTITIES_JSON = "identities.json"
# the evaluate headline the identity check's rows go under
IDENTITY_HEADLINE = next(h.key for h in HEADLINES["evaluate"]
                         if h.source == "identity_match_fraction")

# The training facts shown beside its headlines (metrics/details/train.json keys); the rest is
# under "All numbers".
TRAIN_HEADLINE = {
    "model": "network family (params.yaml train.model)",
    "resolution": "image side in pixels",
    "steps": "optimizer steps done",
    "epochs": "passes over the training images",
    "images": "training images",
    "students": "students in the training data",
    "real_score": "D(x): the discriminator's score of real images, last logged mean",
    "fake_score": "D(G(z)): its score of generated images, last logged mean",
    "train_seconds": "wall-clock seconds of training",
    "images_per_second": "training speed",
    "device": "where it ran",
}


class ReportError(ValueError):
    """An input of the report is missing or does not have the documented layout."""


# ---------------------------------------------------------------- what the template shows


@dataclass(frozen=True)
class Thumb:
    src: str | None  # data URI of a small JPEG; None when the photo cannot be shown
    problem: str = ""  # why there is no picture


@dataclass(frozen=True)
class Copy:
    """The other photo of a duplicate pair."""

    student: str
    file: str
    other_student: bool  # handed in by someone else
    thumb: Thumb


@dataclass
class PhotoView:
    student: str
    file: str
    width: int | None
    height: int | None
    accepted: bool
    thumb: Thumb
    findings: list[Finding] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.accepted:
            return "rejected"
        return "warning" if any(f.severity is Severity.WARNING for f in self.findings) else "ok"


@dataclass
class StudentView:
    name: str
    anchor: str  # HTML id; student names are not safe ids
    source: str
    photos: list[PhotoView] = field(default_factory=list)  # the first MAX_SHOWN, by name
    full_name: str = ""  # the name an LMS download gives (the student key is then its id)
    findings: list[Finding] = field(default_factory=list)  # about the whole submission
    other_files: list[Finding] = field(default_factory=list)  # files that are not photos
    handed_in: int = 0  # photos, shown or not
    hidden: Counter = field(default_factory=Counter)  # list name -> entries not shown
    accepted: int = 0
    errors: int = 0
    warnings: int = 0
    rules: Counter = field(default_factory=Counter)
    feedback: str = ""  # the feedback stage's message to the student, "" when there is none

    @property
    def rules_text(self) -> str:
        return ", ".join(f"{r}×{n}" if n > 1 else r for r, n in sorted(self.rules.items()))


@dataclass(frozen=True)
class Bar:
    label: str
    count: int


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]

    @property
    def total(self) -> int:
        return sum(b.count for b in self.bars)

    @property
    def most(self) -> int:
        return max((b.count for b in self.bars), default=0)


@dataclass(frozen=True)
class Curve:
    name: str
    points: str  # SVG polyline points, already in chart coordinates
    last: float


@dataclass(frozen=True)
class LineChart:
    title: str
    curves: list[Curve]
    x_range: tuple[float, float]
    y_range: tuple[float, float]


@dataclass(frozen=True)
class Figure:
    caption: str
    src: str | None  # data URI
    problem: str = ""


@dataclass(frozen=True)
class Section:
    """A stage's outputs; `missing` says in words why there is nothing to show."""

    missing: str = ""
    numbers: list[tuple[str, str, str]] = field(default_factory=list)  # headline, value, meaning
    conventions: list[tuple[str, str, str]] = field(default_factory=list)  # what the numbers assume
    details: list[tuple[str, str, str]] = field(default_factory=list)  # every value, its note
    charts: list[LineChart] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass(frozen=True)
class PersonPhoto:
    student: str
    file: str
    thumb: Thumb


@dataclass
class Person:
    """One identity of accepted.csv: who handed in photos of this person, with a few of each."""

    number: int
    photos: dict[str, list[PersonPhoto]] = field(default_factory=dict)  # student -> shown
    counts: Counter = field(default_factory=Counter)  # student -> photos of this person

    @property
    def shared(self) -> bool:
        return len(self.counts) > 1


@dataclass(frozen=True)
class StudentPeople:
    name: str
    anchor: str
    photos: int  # accepted photos with a person
    people: list[int]  # the people in them, most photos first
    shares_with: list[str]  # students whose photos show one of these people


@dataclass(frozen=True)
class IdentityView:
    """The identities section: people in more than one submission first, then everyone."""

    people: list[Person]
    students: list[StudentPeople]

    @property
    def shared(self) -> list[Person]:
        return [p for p in self.people if p.shared]


def identity_view(accepted_rows: list[dict[str, str]], thumbs: dict[tuple[str, str], Thumb],
                  anchors: dict[str, str]) -> IdentityView:
    """Who is in the accepted photos, from accepted.csv's identity column."""
    of = identities_of(accepted_rows)
    people: dict[int, Person] = {}
    for (student, file), number in sorted(of.items()):
        person = people.setdefault(number, Person(number))
        person.counts[student] += 1
        shown = person.photos.setdefault(student, [])
        if len(shown) < PERSON_PHOTOS:
            shown.append(PersonPhoto(student, file, thumbs.get((student, file),
                                                               Thumb(None, "not shown"))))
    ordered = sorted(people.values(), key=lambda p: (not p.shared, p.number))
    students = []
    for student in sorted({s for s, _ in of}):
        mine = [p for p in people.values() if student in p.counts]
        mine.sort(key=lambda p: (-p.counts[student], p.number))
        others = sorted({s for p in mine for s in p.counts} - {student})
        students.append(StudentPeople(student, anchors.get(student, ""),
                                      sum(p.counts[student] for p in mine),
                                      [p.number for p in mine], others))
    return IdentityView(ordered, students)


# ---------------------------------------------------------------- the stage


def run_report(
    params: ReportParams,
    *,
    max_pixels: int,
    manifest: Path,
    findings: Path,
    accepted: Path,
    validate_metrics: Path,
    validate_details: Path,
    submissions_root: Path,
    out_dir: Path,
    crop_sheet: Path | None = None,
    train_metrics: Path | None = None,
    train_details: Path | None = None,
    train_plots: Path | None = None,
    samples: Path | None = None,
    evaluate_metrics: Path | None = None,
    evaluate_details: Path | None = None,
    memorization: Path | None = None,
    feedback: Path | None = None,
    progress: Progress = no_progress,
) -> Path:
    """Write `out_dir/index.html` and return its path.

    The validate outputs are required (ReportError says which is missing). The optional outputs
    of later stages (crop contact sheet, train metrics and details and dvclive plots folder,
    sample grid, evaluate metrics and details, the memorization folder with pair-*.png and
    pairs.json) each fill a section when they exist; a section whose files are absent says that
    stage has not run. Metrics and details are read as `pipeline.formats.metrics` lays them out:
    the headlines from the metrics file, every other value, note and convention from the
    details. The feedback folder's message to each student is shown on the student's card, with
    a button that copies it. Students with errors come first.
    Photos are read from `submissions_root` only to make thumbnails, refusing headers over
    `max_pixels` (validate.max_pixels); a photo that cannot be read or decoded gets a placeholder
    with the reason.
    """
    try:
        # the manifest also lists each attribute table (kind "attributes")
        photo_rows = [r for r in read_manifest_rows(Path(manifest)) if r.kind == PHOTO]
        all_findings = read_findings(Path(findings))
        attribute_columns, accepted_rows = read_accepted(Path(accepted))
        counts = {**read_details(Path(validate_details), "validate").values,
                  **read_metrics(Path(validate_metrics), "validate")}
    except FormatError as exc:
        raise ReportError(str(exc)) from None

    thumbs = make_thumbnails(_shown(photo_rows), Path(submissions_root), params, max_pixels,
                             progress)
    students = _students(photo_rows, all_findings, accepted_rows, thumbs)
    feedback_ran = feedback is not None and Path(feedback).is_dir()
    texts = read_feedback(Path(feedback), [s.name for s in students]) if feedback_ran else {}
    for s in students:
        s.feedback = texts.get(s.name, "")
    students.sort(key=lambda s: (s.errors == 0, s.name))
    attribute_findings, attributes_hidden = _capped(
        [f for f in all_findings if f.rule == "attributes"]
    )
    anchors = {s.name: s.anchor for s in students}
    template = _environment().get_template("report.html.j2")
    html = template.render(
        params=params,
        counts=counts,
        students=students,
        anchors=anchors,
        identities=identity_view(accepted_rows, thumbs, anchors),
        feedback_ran=feedback_ran,
        loose=[f for f in all_findings if not f.student],
        charts=attribute_charts(accepted_rows, attribute_columns),
        attribute_findings=attribute_findings,
        attributes_hidden=attributes_hidden,
        max_shown=MAX_SHOWN,
        accepted_count=len(accepted_rows),
        crop=_crop_section(crop_sheet),
        train=_train_section(train_metrics, train_details, train_plots, samples),
        evaluate=_evaluate_section(evaluate_metrics, evaluate_details, memorization),
    )
    target = Path(out_dir) / "index.html"
    with atomic_path(target) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return target


# ---------------------------------------------------------------- thumbnails


def thumbnail(data: bytes, size: int, max_pixels: int) -> bytes:
    """A JPEG at most `size` px on its longer side, upright (EXIF applied), with no metadata."""
    image = decode(data, max_pixels=max_pixels, long_side=size).image
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return buf.getvalue()


def make_thumbnails(
    rows: Iterable[ManifestRow],
    root: Path,
    params: ReportParams,
    max_pixels: int,
    progress: Progress = no_progress,
) -> dict[tuple[str, str], Thumb]:
    """A thumbnail (or a placeholder's reason) per manifest photo, keyed by (student, file)."""
    rows = list(rows)

    def one(row: ManifestRow) -> Thumb:
        try:  # no larger than ingest saw it
            data = read_member(root, row.source, row.member, row.bytes)
        except SubmissionError as exc:
            return Thumb(None, f"cannot be read ({exc})")
        try:
            jpeg = thumbnail(data, params.thumb_size, max_pixels)
        except ImageError as exc:
            return Thumb(None, str(exc))
        except (OSError, ValueError) as exc:  # Pillow's encoder on exotic modes
            return Thumb(None, f"cannot be shown ({exc})")
        return Thumb("data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii"))

    # Decoding and JPEG encoding release the GIL, so threads use every core.
    with ThreadPoolExecutor(worker_count()) as pool:
        thumbs = list(track(pool.map(one, rows), progress, "thumbnails", len(rows)))
    return {(r.student, r.file): t for r, t in zip(rows, thumbs, strict=True)}


# ---------------------------------------------------------------- per student


def _shown(photo_rows: list[ManifestRow]) -> list[ManifestRow]:
    """The manifest photos the page shows: each student's first MAX_SHOWN by file name."""
    return _capped(sorted(photo_rows, key=lambda r: (r.student, r.file)))[0]


def _capped(items: Iterable[_PerStudent]) -> tuple[list[_PerStudent], dict[str, int]]:
    """At most MAX_SHOWN items (photos, findings) per student, in order, and how many more each
    student has."""
    seen: Counter = Counter()
    shown = []
    for item in items:
        seen[item.student] += 1
        if seen[item.student] <= MAX_SHOWN:
            shown.append(item)
    return shown, {s: n - MAX_SHOWN for s, n in seen.items() if n > MAX_SHOWN}


def _students(
    photo_rows: list[ManifestRow],
    findings: list[Finding],
    accepted_rows: list[dict[str, str]],
    thumbs: dict[tuple[str, str], Thumb],
) -> list[StudentView]:
    names = sorted({r.student for r in photo_rows} | {f.student for f in findings if f.student})
    views = {s: StudentView(s, f"student-{i}", "") for i, s in enumerate(names, start=1)}
    accepted = {(r["student"], r["file"]) for r in accepted_rows}
    photos: dict[tuple[str, str], PhotoView] = {}
    for r in photo_rows:
        key = (r.student, r.file)
        thumb = thumbs.get(key, Thumb(None, "not shown"))
        view = PhotoView(*key, r.width, r.height, key in accepted, thumb)
        photos[key] = view
        views[r.student].photos.append(view)
        views[r.student].source = r.source
        views[r.student].full_name = r.name
    for r in accepted_rows:
        if r["student"] in views:
            views[r["student"]].accepted += 1
    for f in findings:
        if not f.student:
            continue
        sv = views[f.student]
        if f.severity is not Severity.INFO:
            if f.severity is Severity.ERROR:
                sv.errors += 1
            else:
                sv.warnings += 1
            sv.rules[f.rule] += 1
        photo = photos.get((f.student, f.file))
        if photo is None:
            (sv.other_files if f.file else sv.findings).append(f)
            continue
        photo.findings.append(f)
        if f.rule == "duplicate" and "/" in f.related:
            student, file = f.related.split("/", 1)  # student names never hold a "/"
            photo.copies.append(
                Copy(student, file, student != f.student,
                     thumbs.get((student, file), Thumb(None, "")))
            )
    for sv in views.values():
        sv.photos.sort(key=lambda p: p.file)
        sv.handed_in = len(sv.photos)
        for name in ("photos", "findings", "other_files"):
            entries = getattr(sv, name)
            sv.hidden[name] = max(0, len(entries) - MAX_SHOWN)
            del entries[MAX_SHOWN:]
    return list(views.values())


# ---------------------------------------------------------------- charts


def attribute_charts(rows: list[dict[str, str]], columns: Sequence[str]) -> list[BarChart]:
    """Counts per value of every attribute over the accepted photos; age as a histogram."""
    charts = []
    for col in columns:
        values = [r.get(col, "").strip() for r in rows]
        if col == AGE_COLUMN:
            charts.append(age_histogram(values))
            continue
        counts = Counter(v or "(empty)" for v in values)
        bars = [Bar(v, n) for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        charts.append(BarChart(col, bars))
    return charts


def age_histogram(values: Sequence[str]) -> BarChart:
    """Ages in bins of AGE_BIN years, every bin between the youngest and oldest shown."""
    ages: list[int] = []
    other = Counter()
    for v in values:
        try:
            ages.append(int(float(v)))
        except ValueError:
            other[v or "(empty)"] += 1
    bars = []
    if ages:
        bins = Counter(a // AGE_BIN for a in ages)
        for b in range(min(bins), max(bins) + 1):
            bars.append(Bar(f"{b * AGE_BIN}–{b * AGE_BIN + AGE_BIN - 1}", bins.get(b, 0)))
    bars.extend(Bar(v, n) for v, n in sorted(other.items()))
    return BarChart(f"{AGE_COLUMN} (years)", bars)


def line_chart(title: str, series: dict[str, list[tuple[float, float]]]) -> LineChart:
    """Curves mapped onto the 480 × 180 px plot area at (60, 10) of the template's 560 × 220 SVG."""
    width, height, left, top = 480.0, 180.0, 60.0, 10.0
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts if math.isfinite(y)]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    curves = []
    for name, pts in series.items():
        stride = max(1, math.ceil(len(pts) / MAX_CURVE_POINTS))
        kept = [p for p in pts[::stride] if math.isfinite(p[1])]
        coords = " ".join(
            f"{left + (x - x0) / (x1 - x0) * width:.1f},{top + (y1 - y) / (y1 - y0) * height:.1f}"
            for x, y in kept
        )
        curves.append(Curve(name, coords, pts[-1][1] if pts else math.nan))
    return LineChart(title, curves, (x0, x1), (y0, y1))


def read_series(plots_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """Every dvclive metric series (TSV: [timestamp,] step, value) under `plots_dir`, by name."""
    out = {}
    for path in sorted(Path(plots_dir).rglob("*.tsv")):
        parts = path.relative_to(plots_dir).with_suffix("").parts
        # dvclive puts series under plots/metrics/; the rest of the path is the metric's name
        if "metrics" in parts:
            parts = parts[parts.index("metrics") + 1 :]
        points = []
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh, delimiter="\t")
                value_cols = [c for c in reader.fieldnames or [] if c not in ("timestamp", "step")]
                for i, row in enumerate(reader):
                    step = float(row["step"]) if row.get("step") else float(i)
                    points.append((step, float(row[value_cols[-1]])))
        except (OSError, ValueError, IndexError, KeyError, TypeError):
            continue  # a series being written or not in dvclive's layout is left out
        if points:
            out["/".join(parts)] = points
    return out


def group_curves(series: dict[str, list[tuple[float, float]]]) -> list[LineChart]:
    """Losses on one chart, discriminator scores (D(x), D(G(z))) on another, the rest alone."""
    losses = {n: s for n, s in series.items() if "loss" in n.lower()}
    scores = {
        n: s
        for n, s in series.items()
        if n not in losses and any(w in n.lower() for w in ("score", "real", "fake", "d_x", "d_g"))
    }
    charts = []
    if losses:
        charts.append(line_chart("Losses", losses))
    if scores:
        charts.append(line_chart("Discriminator scores on real and fake images", scores))
    for name, points in series.items():
        if name not in losses and name not in scores:
            charts.append(line_chart(name, {name: points}))
    return charts


# ---------------------------------------------------------------- later stages


def _crop_section(contact_sheet: Path | None) -> Section:
    if contact_sheet is None or not Path(contact_sheet).is_file():
        return Section(missing="The crop stage has not run (no contact sheet of aligned crops).")
    return Section(figures=[_figure(Path(contact_sheet), "Aligned crops (first of the class)")])


def _train_section(metrics_path: Path | None, details_path: Path | None,
                   plots_dir: Path | None, samples: Path | None) -> Section:
    series = read_series(plots_dir) if plots_dir and Path(plots_dir).is_dir() else {}
    has_samples = samples is not None and Path(samples).is_file()
    numbers = _stage_numbers("train", metrics_path, details_path)
    if numbers.missing and not series and not has_samples:
        return Section(missing="The train stage has not run (no metrics, curves or samples).")
    # a small table: the headlines and the facts a reader asks first; every other value folded
    facts = {key: (value, note) for key, value, note in numbers.details if key in TRAIN_HEADLINE}
    return Section(
        missing=numbers.missing,
        numbers=numbers.numbers + [(k, facts[k][0], facts[k][1] or meaning)
                                   for k, meaning in TRAIN_HEADLINE.items() if k in facts],
        conventions=numbers.conventions,
        details=[row for row in numbers.details if row[0] not in facts],
        charts=group_curves(series),
        figures=[_figure(Path(samples), "Latest samples")] if has_samples else [],
    )


def _evaluate_section(metrics_path: Path | None, details_path: Path | None,
                      memorization: Path | None) -> Section:
    pairs = sorted(Path(memorization).glob("pair-*.png")) if memorization else []
    numbers = _stage_numbers("evaluate", metrics_path, details_path)
    if numbers.missing and not pairs:
        return Section(missing="The evaluate stage has not run (no evaluation metrics).")
    captions = _pair_captions(Path(memorization) / "pairs.json") if memorization else {}
    figures = [_figure(p, captions.get(p.name, p.name)) for p in pairs]
    if memorization:  # the identity check's rows go under its number, its pairs last
        checks, likeness = _identity_check(Path(memorization))
        keys = [key for key, _, _ in numbers.numbers]
        at = keys.index(IDENTITY_HEADLINE) + 1 if IDENTITY_HEADLINE in keys \
            else len(numbers.numbers)
        numbers.numbers[at:at] = checks
        figures += likeness
    return Section(
        missing=numbers.missing,
        numbers=numbers.numbers,
        conventions=numbers.conventions,
        details=numbers.details,
        figures=figures,
    )


def _stage_numbers(stage: str, metrics_path: Path | None, details_path: Path | None) -> Section:
    """A stage's headlines (from its metrics file, each with its meaning, the note on it and its
    reference value), the conventions behind them and every other value with its note (from
    the details); `missing` says why there is nothing when a file cannot be read."""
    if metrics_path is None or details_path is None:
        return Section(missing=f"The {stage} stage has not run.")
    try:
        metrics = read_metrics(Path(metrics_path), stage)
        details = read_details(Path(details_path), stage)
    except FormatError as exc:
        return Section(missing=str(exc))
    numbers, shown = [], set()
    for h in HEADLINES[stage]:
        meaning = h.meaning
        if h.reference and details.value(h.reference) is not None:
            meaning += f" On the real images: {_format(details.value(h.reference))}."
            shown.add(h.reference)
        if details.notes.get(h.source):
            meaning += f" ({details.notes[h.source]})"
        numbers.append((h.key, _format(metrics.get(h.key)), meaning))
        shown.add(h.source)
    conventions = [(k, v, "") for k, v in details.conventions.items()]
    rows = [(k, v, details.notes.get(k, "")) for k, v, _ in _numbers(details.values)
            if k not in shown]
    rows += _notes_without_values(details, {k for k, _, _ in rows} | shown)
    return Section(numbers=numbers, conventions=conventions, details=rows)


def _notes_without_values(details: Record, keys: set[str]) -> list[tuple[str, str, str]]:
    """Notes on a whole group of values (`inception`, `memorization.inception`)."""
    return [(k, "", note) for k, note in details.notes.items() if k not in keys]


def _pair_captions(pairs_json: Path) -> dict[str, str]:
    """png name -> 'generated #i: nearest training crop <key> (<space> distance d < t)'."""
    data = _read_json(pairs_json)
    captions = {}
    for record in data if isinstance(data, list) else []:
        if not isinstance(record, dict) or not isinstance(record.get("png"), str):
            continue
        text = f"generated image {record.get('generated')}"
        for space, hit in record.items():
            if isinstance(hit, dict) and hit.get("flagged"):
                text += (
                    f": nearest training crop {hit.get('train')}"
                    f"{' (mirrored)' if hit.get('mirrored') else ''}, {space} distance "
                    f"{_format(hit.get('distance'))} < {_format(hit.get('threshold'))}"
                )
                break
        captions[record["png"]] = text
    return captions


def _read_json(path: Path) -> Any:
    """What the JSON file at `path` holds; None when it is missing or unreadable (the caller
    checks the shape: these files are the evaluate stage's, shown as far as they make sense)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _identity_check(memorization: Path) -> tuple[list[tuple[str, str, str]], list[Figure]]:
    """From identities.json: the identity check on real crops (what it can tell at the model's
    resolution), and the pairs of generated faces closest to a training person."""
    data = _read_json(memorization / IDENTITIES_JSON)
    if not isinstance(data, dict):
        return [], []
    rows = []
    checks = data.get("self_check")
    for name, check in (checks if isinstance(checks, dict) else {}).items():
        if isinstance(check, dict):
            rows.append((f"identity: {name} crops read as training people",
                         _format(check.get("fraction")), str(check.get("expect", ""))))
    figures = []
    for record in data.get("pairs") or []:
        if not isinstance(record, dict) or not isinstance(record.get("png"), str):
            continue
        png = memorization / Path(record["png"]).name
        verdict = "the same person" if record.get("same_person") else "not the same person"
        caption = (f"generated image {record.get('generated')} and training crop "
                   f"{record.get('train')}: face distance {_format(record.get('distance'))}, "
                   f"{verdict} (below {_format(data.get('same_person_distance'))})")
        figures.append(_figure(png, caption))
    return rows, figures


def _figure(path: Path, caption: str) -> Figure:
    kind = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg+xml"}.get(
        path.suffix.lower()
    )
    if kind is None:
        return Figure(caption, None, f"{path.name} is not a PNG, JPEG or SVG image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Figure(caption, None, f"{path} cannot be read ({exc})")
    return Figure(caption, f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii"))


def _numbers(data: dict, prefix: str = "") -> list[tuple[str, str, str]]:
    """A nested JSON object as (dotted key, formatted value, "") rows."""
    rows: list[tuple[str, str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_numbers(value, name + "."))
        else:
            rows.append((name, _format(value), ""))
    return rows


def _format(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_format(v) for v in value)
    return str(value)


# ---------------------------------------------------------------- rendering


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        autoescape=True,  # every value may come from a student
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _format
    return env
