"""The HTML report, rendered from a small class written to disk, checked by parsing the HTML."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from pipeline.config import ReportParams, ValidateParams
from pipeline.findings import Finding, Severity
from pipeline.formats.feedback import write_feedback
from pipeline.formats.findings import FINDING_COLUMNS, read_findings, write_findings
from pipeline.formats.metrics import Record, read_details, write_record
from pipeline.images import ImageError
from pipeline.report import MAX_SHOWN, ReportError, run_report, thumbnail
from tests.conftest import ATTRIBUTE_COLUMNS, VALID_VALUES, face, jpeg_bytes

EVIL = "<script>alert(1)</script>.jpg"  # a real path on Linux: folder '<script>alert(1)<'
MANIFEST_COLUMNS = ["student", "file", "source", "member", "kind", "sha256", "bytes", "format",
                    "width", "height"]  # fmt: skip
PARAMS = ReportParams(thumb_size=96)
MAX_PIXELS = ValidateParams().max_pixels


# ---------------------------------------------------------------- a tiny DOM from html.parser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # text directly inside, in order

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return " ".join(" ".join(self.parts + [c.text() for c in self.children]).split())

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.classes)
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert len(found) == 1, f"expected one <{tag} class={cls} {attrs}>, found {len(found)}"
        return found[0]


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return
        raise AssertionError(f"stray </{tag}>")

    def handle_data(self, data):
        self.stack[-1].parts.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], f"unclosed <{builder.stack[-1].tag}>"
    return builder.root


# ---------------------------------------------------------------- a class on disk


def rotated_jpeg() -> bytes:
    """A landscape JPEG whose EXIF says 'rotate 90°': it is meant to be seen as a portrait."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(face("astronaut_collins").resize((300, 200)), exif=exif.tobytes())


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)


def finding(student, file, rule, severity, message, **measured):
    return Finding(student, file, rule, Severity(severity), message, **measured).as_row()


@dataclass
class ClassFiles:
    root: Path
    paths: dict[str, Path]
    photos: list[tuple[str, str]]  # (student, file) of every photo in the manifest


@pytest.fixture
def klass(tmp_path: Path) -> ClassFiles:
    return make_class(tmp_path)


def make_class(tmp_path: Path) -> ClassFiles:
    """ada hands in a folder, grace a zip; one cross-student copy, one truncated photo."""
    root = tmp_path / "submissions"
    shared = jpeg_bytes(face("biden_official_2013").resize((240, 240)))
    ada = {
        "a.jpg": shared,
        "b.jpg": rotated_jpeg(),
        EVIL: jpeg_bytes(face("astronaut_collins").resize((120, 120))),
    }
    for name, data in ada.items():
        (root / "ada" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "ada" / name).write_bytes(data)
    good = jpeg_bytes(face("astronaut_collins").resize((200, 260)))
    grace = {"g1.jpg": good, "g2.jpg": shared, "cut.jpg": good[: len(good) // 2]}
    with zipfile.ZipFile(root / "grace.zip", "w") as zf:
        for name, data in grace.items():
            zf.writestr(f"grace/{name}", data)

    def row(student, file, source, member, data):
        w = h = ""  # as ingest writes them: after EXIF orientation, empty when unreadable
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if im.getexif().get(0x0112) in (5, 6, 7, 8):
                    w, h = h, w
        except OSError:
            pass
        return dict(student=student, file=file, source=source, member=member, kind="photo",
                    sha256="0" * 64, bytes=len(data), format="JPEG", width=w, height=h)  # fmt: skip

    manifest = [row("ada", f, "ada", f, d) for f, d in ada.items()]
    manifest += [row("grace", f, "grace.zip", f"grace/{f}", d) for f, d in grace.items()]
    manifest.append(dict(student="grace", file="attributes.csv", source="grace.zip",
                         member="grace/attributes.csv", kind="attributes", sha256="1" * 64,
                         bytes=10, format="CSV", width="", height=""))  # fmt: skip
    findings = [
        finding("ada", "", "count", "error", "handed in 3 photos, fewer than the 4 asked for",
                quantity="photos", value=3, limit=4, unit="count", comparison="=="),
        finding("ada", "a.jpg", "duplicate", "error", "grace handed in an identical file of this "
                "photo (grace/g2.jpg); every photo must be your own and appear once",
                quantity="hash_distance", value=0, limit=4, unit="bits", comparison=">",
                related="grace/g2.jpg"),
        finding("ada", "b.jpg", "expression", "warning", "a broad smile",
                quantity="smile", value=1.12, limit=1.05, unit="spreads", comparison="<="),
        finding("ada", EVIL, "too_small", "error", f"{EVIL} is 120×120 pixels; the shorter side "
                "must be at least 500", quantity="short_side", value=120, limit=500, unit="px",
                comparison=">="),
        finding("grace", "cut.jpg", "corrupt", "error", "the file does not decode to the end"),
        finding("grace", "g2.jpg", "duplicate", "error", "ada handed in an identical file of this "
                "photo (ada/a.jpg); every photo must be your own and appear once",
                quantity="hash_distance", value=0, limit=4, unit="bits", comparison=">",
                related="ada/a.jpg"),
        finding("grace", "attributes.csv", "attributes", "error",
                'age "<b>old</b>" is not a whole number'),
        finding("grace", "__MACOSX/._g1.jpg", "submission", "info",
                "__MACOSX/._g1.jpg was ignored: it is an operating-system file"),
        finding("", "notes.txt", "submission", "warning",
                "notes.txt is not inside a student folder or zip and was not checked"),
    ]  # fmt: skip
    values = dict(zip(ATTRIBUTE_COLUMNS[1:], VALID_VALUES, strict=True))
    accepted_rows = []
    for student, file, eye, age in [("ada", "b.jpg", "blue", "34"), ("grace", "g1.jpg", "brown",
                                                                      "71")]:  # fmt: skip
        r = next(m for m in manifest if (m["student"], m["file"]) == (student, file))
        accepted_rows.append({**r, "yaw": "1.5", "pitch": "2", "roll": "0.3", **values,
                              "eye_colour": eye, "age": age})  # fmt: skip
    accepted_columns = [c for c in MANIFEST_COLUMNS if c != "kind"] + ["yaw", "pitch", "roll"]
    accepted_columns += ATTRIBUTE_COLUMNS[1:]
    for r in accepted_rows:
        del r["kind"]
    interim = tmp_path / "interim"
    interim.mkdir()
    paths = {
        "manifest": interim / "manifest.csv",
        "findings": interim / "findings.csv",
        "accepted": interim / "accepted.csv",
        "validate_metrics": tmp_path / "validate.json",
        "validate_details": tmp_path / "details" / "validate.json",
    }
    write_csv(paths["manifest"], MANIFEST_COLUMNS, manifest)
    write_csv(paths["findings"], FINDING_COLUMNS, findings)
    write_csv(paths["accepted"], accepted_columns, accepted_rows)
    write_record("validate", Record({
        "students": 2, "photos": 6, "accepted": 2, "rejected": 4, "acceptance_rate": 0.3333,
        "findings": {"errors": 6, "warnings": 2, "infos": 1},
        "rules": {"count": 1, "duplicate": 2, "too_small": 1, "corrupt": 1, "expression": 1,
                  "attributes": 1, "no_face": 0},
    }), paths["validate_metrics"], paths["validate_details"])  # fmt: skip
    photos = [(m["student"], m["file"]) for m in manifest if m["kind"] == "photo"]
    return ClassFiles(root, paths, photos)


def render(klass: ClassFiles, out_dir: Path, **later) -> tuple[str, Node]:
    index = run_report(PARAMS, max_pixels=MAX_PIXELS, submissions_root=klass.root,
                       out_dir=out_dir, **klass.paths, **later)  # fmt: skip
    assert index == out_dir / "index.html"
    html = index.read_text(encoding="utf-8")
    return html, parse(html)


def image_of(src: str) -> Image.Image:
    head, data = src.split(",", 1)
    assert head == "data:image/jpeg;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


# ---------------------------------------------------------------- tests


def test_overview_counts_each_students_photos_findings_and_rules(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    table = doc.one("table", id="overview-table")
    rows = [r for r in table.find_all("tr") if "data-student" in r.attrs]
    cells = {r.attrs["data-student"]: [td.text() for td in r.find_all("td")] for r in rows}
    assert list(cells) == ["ada", "grace"]
    # handed in, accepted, warnings, errors, rules broken
    assert cells["ada"][1:5] == ["3", "1", "1", "3"]
    assert cells["ada"][5] == "count, duplicate, expression, too_small"
    assert cells["grace"][1:5] == ["3", "1", "0", "3"]  # the ignored junk file is not counted
    assert cells["grace"][5] == "attributes, corrupt, duplicate"
    assert {r.attrs["data-student"]: r.attrs["data-errors"] for r in rows} == {
        "ada": "3",
        "grace": "3",
    }
    # sortable columns and the "students with errors" filter are there for the script
    assert len(doc.find_all("th", data_type="number")) == 4
    assert doc.one("input", id="only-errors").attrs["type"] == "checkbox"
    summary = doc.one("section", id="summary").text()
    assert "33.3 %" in summary
    assert [n.attrs["data-rule"] for n in doc.find_all("span", cls="rule-count")] == [
        "attributes", "corrupt", "count", "duplicate", "expression", "too_small",
    ]  # fmt: skip


def test_one_thumbnail_per_photo_small_upright_and_without_exif(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    figures = doc.find_all("figure", cls="photo")
    assert sorted((f.attrs["data-file"]) for f in figures) == sorted(f for _, f in klass.photos)
    for fig in figures:
        thumbs = fig.find_all(cls="thumb")
        assert len(thumbs) == 1, fig.attrs["data-file"]
        if thumbs[0].tag == "img":
            im = image_of(thumbs[0].attrs["src"])
            assert max(im.size) <= PARAMS.thumb_size
            assert not im.getexif(), "thumbnails must carry no EXIF"
    rotated = next(f for f in figures if f.attrs["data-file"] == "b.jpg").one("img", cls="thumb")
    width, height = image_of(rotated.attrs["src"]).size
    assert height > width, "EXIF orientation must be applied before making the thumbnail"
    big = next(f for f in figures if f.attrs["data-file"] == "a.jpg").one("img", cls="thumb")
    assert image_of(big.attrs["src"]).size == (PARAMS.thumb_size, PARAMS.thumb_size)


def test_undecodable_photo_gets_a_placeholder_with_the_reason(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    fig = doc.one("figure", data_file="cut.jpg")
    assert fig.attrs["data-status"] == "rejected"
    placeholder = fig.one(cls="thumb")
    assert placeholder.tag == "div" and "placeholder" in placeholder.classes
    assert "does not decode to the end" in placeholder.text()
    assert fig.one("li", data_rule="corrupt").attrs["class"] == "error"


def test_rejected_photos_show_reasons_and_measured_values(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    fig = doc.one("figure", data_file=EVIL)
    assert fig.attrs["data-status"] == "rejected"
    reason = fig.one("li", data_rule="too_small").text()
    assert "measured 120 px; limit ≥ 500 px" in reason
    warned = doc.one("figure", data_file="b.jpg")
    assert warned.attrs["data-status"] == "warning"
    assert "limit ≤ 1.05 spreads" in warned.one("li", data_rule="expression").text()
    assert doc.one("figure", data_file="g1.jpg").attrs["data-status"] == "ok"


def test_student_supplied_text_is_escaped(klass, tmp_path):
    html, doc = render(klass, tmp_path / "reports")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in html
    assert "<b>old</b>" not in html
    # the only script element is the report's own
    scripts = doc.find_all("script")
    assert len(scripts) == 1 and "alert" not in scripts[0].text()
    fig = doc.one("figure", data_file=EVIL)  # the name round-trips through the escaping
    assert fig.one("span", cls="name").text() == EVIL


def test_cross_student_duplicates_side_by_side_naming_the_other_student(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    for me, other_student, other_file in [("g2.jpg", "ada", "a.jpg"), ("a.jpg", "grace", "g2.jpg")]:
        fig = doc.one("figure", data_file=me)
        copy = fig.one("div", cls="copy")
        assert copy.attrs["data-copy-of"] == f"{other_student}/{other_file}"
        assert copy.one(cls="copy-thumb").tag == "img"
        assert copy.one("b", cls="other-student").text() == other_student
        link = copy.one("a").attrs["href"]
        section = doc.one("section", cls="student", id=link[1:])
        assert section.attrs["data-student"] == other_student


def test_attribute_balance_counts_accepted_photos(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    charts = {c.attrs["data-attribute"]: c for c in doc.find_all("figure", cls="bar-chart")}
    assert set(charts) == {*ATTRIBUTE_COLUMNS[1:15], "age (years)", "gender",
                           "identification_mark"}  # fmt: skip
    bars = {
        b.attrs["data-label"]: int(b.attrs["data-count"])
        for b in charts["eye_colour"].find_all("g", cls="bar")
    }
    assert bars == {"blue": 1, "brown": 1}
    ages = [
        (b.attrs["data-label"], int(b.attrs["data-count"]))
        for b in charts["age (years)"].find_all("g", cls="bar")
    ]
    assert ages == [("30–39", 1), ("40–49", 0), ("50–59", 0), ("60–69", 0), ("70–79", 1)]
    problems = doc.one("table", id="attribute-findings").find_all("tr", cls="error")
    assert [p.find_all("td")[1].text() for p in problems] == ["attributes.csv"]


def test_other_files_and_loose_files_are_listed(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    grace = doc.one("section", cls="student", data_student="grace")
    other = grace.one("ul", cls="other-files").text()
    assert "attributes.csv" in other and "__MACOSX/._g1.jpg" in other
    ada = doc.one("section", cls="student", data_student="ada")
    assert ada.one("ul", cls="submission").one("li", data_rule="count")
    assert "notes.txt" in doc.one("ul", cls="loose").text()


def test_each_student_shows_at_most_max_shown_and_the_page_says_so(klass, tmp_path):
    """A student who hands in hundreds of files cannot make the page unopenable."""
    extra = MAX_SHOWN + 3
    tiny = jpeg_bytes(Image.new("RGB", (16, 16), (200, 30, 30)))
    folder = klass.root / "zed"
    folder.mkdir()
    rows, findings = [], []
    for i in range(extra):
        (folder / f"p{i:03d}.jpg").write_bytes(tiny)
        rows.append(dict(student="zed", file=f"p{i:03d}.jpg", source="zed", member=f"p{i:03d}.jpg",
                         kind="photo", sha256="2" * 64, bytes=len(tiny), format="JPEG",
                         width=16, height=16))  # fmt: skip
        findings.append(finding("zed", f"row{i}", "attributes", "error", f"row {i} is wrong"))
        findings.append(finding("zed", f"junk{i}.txt", "submission", "warning", "not a photo"))
    with klass.paths["manifest"].open("a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, MANIFEST_COLUMNS).writerows(rows)
    with klass.paths["findings"].open("a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, FINDING_COLUMNS).writerows(findings)
    _, doc = render(klass, tmp_path / "reports")
    zed = doc.one("section", cls="student", data_student="zed")
    assert len(zed.find_all("figure", cls="photo")) == MAX_SHOWN
    assert len(zed.find_all(cls="thumb")) == MAX_SHOWN
    notes = [p.text() for p in zed.find_all("p", cls="not-shown")]
    assert f"3 more photos are not shown here (at most {MAX_SHOWN} per student)" in notes[1]
    assert notes[0].startswith(f"{2 * extra - MAX_SHOWN} more findings about other files")
    assert f"{extra} photos handed in" in zed.text()
    table_rows = doc.one("table", id="attribute-findings").find_all("tr", cls="error")
    assert sum(1 for r in table_rows if r.find_all("td")[0].text() == "zed") == MAX_SHOWN
    assert any("3 more attribute findings of zed" in p.text()
               for p in doc.find_all("p", cls="not-shown"))  # fmt: skip


def test_later_stages_say_they_have_not_run(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    for section in ("crop", "train", "evaluate"):
        assert "has not run" in doc.one("section", id=section).text()


def later_stages(tmp_path: Path) -> dict:
    """Outputs of crop, train (dvclive series) and evaluate, as run_report's keyword arguments."""
    plots = tmp_path / "dvclive" / "plots" / "metrics"
    plots.mkdir(parents=True)
    for name, values in {"loss_g": [2.0, 1.5, 1.2], "loss_d": [0.7, 0.9, 1.0],
                         "d_real": [0.9, 0.7, 0.6], "d_fake": [0.1, 0.3, 0.4]}.items():  # fmt: skip
        lines = ["timestamp\tstep\t" + name] + [f"0\t{i}\t{v}" for i, v in enumerate(values)]
        (plots / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    train = tmp_path / "train.json", tmp_path / "details" / "train.json"
    write_record("train", Record({"steps": 3, "g_loss": 1.23456, "d_loss": 0.7},
                                 {"g_loss": "mean of the last steps"},
                                 {"resize": "PIL Lanczos"}), *train)  # fmt: skip
    evaluate = tmp_path / "evaluate.json", tmp_path / "details" / "evaluate.json"
    write_record("evaluate", Record({  # the layout pipeline/evaluate.py writes
        "generated_images": 256, "fid": None, "kid_mean": 0.0123,
        "detection": {"rate": 0.25, "rate_real": 0.98},
        "memorization": {"flagged_any": 1, "inception": None},
    }, {"fid": "too few samples: FID needs 2048", "inception": "no weights file here",
        "memorization.inception": "no Inception"},
        {"inception_resize": "bilinear, antialias", "fid_bias": "equal counts"}), *evaluate)
    grid = tmp_path / "samples.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(grid)
    pairs = tmp_path / "memorization"
    pairs.mkdir()
    Image.new("RGB", (260, 142), (30, 200, 30)).save(pairs / "pair-000.png")
    (pairs / "pairs.json").write_text(json.dumps([{"generated": 7, "png": "pair-000.png",
        "pixels": {"train": "ada/<b>a</b>", "mirrored": True, "distance": 0.5, "threshold": 0.9,
                   "flagged": True}}]))  # fmt: skip
    sheet = tmp_path / "contact_sheet.png"
    Image.new("RGB", (32, 32), (0, 0, 255)).save(sheet)
    return dict(
        crop_sheet=sheet,
        train_metrics=train[0],
        train_details=train[1],
        train_plots=tmp_path / "dvclive",
        samples=grid,
        evaluate_metrics=evaluate[0],
        evaluate_details=evaluate[1],
        memorization=pairs,
    )


def test_training_and_evaluation_sections_when_present(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports", **later_stages(tmp_path))
    train = doc.one("section", id="train")
    assert "has not run" not in train.text()
    charts = {c.attrs["data-title"]: c for c in train.find_all("figure", cls="line-chart")}
    assert len(charts) == 2
    losses = charts["Losses"].find_all("polyline")
    assert sorted(p.attrs["data-series"] for p in losses) == ["loss_d", "loss_g"]
    assert all(len(p.attrs["points"].split()) == 3 for p in losses)
    scores = next(c for t, c in charts.items() if t != "Losses").find_all("polyline")
    assert sorted(p.attrs["data-series"] for p in scores) == ["d_fake", "d_real"]
    assert train.one("img", cls="figure").attrs["src"].startswith("data:image/png;base64,")
    evaluation = doc.one("section", id="evaluate")
    # the headlines as DVC compares them, each with its meaning, the note on it, its reference
    headline = {tr.one("th").text(): tr for tr in evaluation.one("table", cls="numbers").children}
    assert list(headline) == ["fid", "kid", "is", "face_rate", "copies", "id_match"]
    fid = headline["fid"].find_all("td")
    assert fid[0].text() == "—" and "(too few samples: FID needs 2048)" in fid[1].text()
    assert headline["kid"].find_all("td")[0].text() == "0.0123"
    face_rate = headline["face_rate"].find_all("td")
    assert face_rate[0].text() == "0.25" and "On the real images: 0.98." in face_rate[1].text()
    assert headline["copies"].find_all("td")[0].text() == "1"
    conventions = evaluation.one("table", cls="conventions").text()
    assert "inception_resize bilinear, antialias" in conventions
    details = evaluation.one("table", cls="details").text()
    assert "generated_images 256" in details and "memorization.inception — no Inception" in details
    assert "inception no weights file here" in details
    assert "detection.rate_real" not in details  # shown beside its headline
    numbers = train.one("table", cls="numbers").text()
    assert "g_loss 1.235" in numbers and "(mean of the last steps)" in numbers
    assert "steps 3" in numbers  # a fact a reader asks first, beside the headlines
    pair = evaluation.one("figure", cls="stage-figure")
    assert pair.one("img").attrs["src"].startswith("data:image/png;base64,")
    assert "nearest training crop ada/<b>a</b> (mirrored), pixels distance 0.5 < 0.9" in (
        pair.one("figcaption").text()
    )
    assert doc.one("section", id="crop").find_all("img", cls="figure")


def test_missing_validate_output_is_a_clear_error(klass, tmp_path):
    klass.paths["findings"].unlink()
    with pytest.raises(ReportError, match="findings.csv does not exist; run the validate stage"):
        render(klass, tmp_path / "reports")
    assert not (tmp_path / "reports" / "index.html").exists()


def test_findings_without_the_documented_columns_are_a_clear_error(klass, tmp_path):
    klass.paths["findings"].write_text("student,file,rule\nada,a.jpg,count\n")
    with pytest.raises(ReportError, match="no column verdict, severity, message, quantity, value"):
        render(klass, tmp_path / "reports")


def test_thumbnail_refuses_a_decompression_bomb():
    data = jpeg_bytes(Image.new("RGB", (400, 300)))
    with pytest.raises(ImageError, match="megapixels"):
        thumbnail(data, 96, max_pixels=400 * 300 - 1)


def test_report_of_the_demo_class(tmp_path):
    """The real chain on data/submissions/: ingest and validate write their files, then report."""
    from pipeline.attributes import load_vocabulary
    from pipeline.config import load_params
    from pipeline.formats.manifest import write_manifest
    from pipeline.ingest import ingest
    from pipeline.validate import validate, write_outputs
    from tests.conftest import DEMO, ROOT, SCHEMA

    params = load_params(ROOT / "params.yaml")
    manifest = ingest(DEMO, params.ingest)
    result = validate(DEMO, manifest, params.validate, load_vocabulary(SCHEMA), tmp_path / "cache")
    interim = tmp_path / "interim"
    write_manifest(manifest, interim / "manifest.csv", interim / "ingest_findings.csv")
    write_outputs(result, interim / "findings.csv", interim / "accepted.csv", interim / "v.json",
                  interim / "vd.json")
    index = run_report(
        params.report,
        max_pixels=params.validate.max_pixels,
        manifest=interim / "manifest.csv",
        findings=interim / "findings.csv",
        accepted=interim / "accepted.csv",
        validate_metrics=interim / "v.json",
        validate_details=interim / "vd.json",
        submissions_root=DEMO,
        out_dir=tmp_path / "reports",
    )
    doc = parse(index.read_text(encoding="utf-8"))

    shown = [
        (sec.attrs["data-student"], fig)
        for sec in doc.find_all("section", cls="student")
        for fig in sec.find_all("figure", cls="photo")
    ]
    assert sorted((s, f.attrs["data-file"]) for s, f in shown) == sorted(
        (p.student, p.file) for p in result.photos
    )
    assert all(len(f.find_all(cls="thumb")) == 1 for _, f in shown)
    rows = {
        r.attrs["data-student"]: [td.text() for td in r.find_all("td")]
        for r in doc.one("table", id="overview-table").find_all("tr")
        if "data-student" in r.attrs
    }
    summary = result.summary()
    for student, cells in rows.items():
        assert cells[1:3] == [str(summary[student]["photos"]), str(summary[student]["accepted"])]
    text = doc.text()
    for rule in ("no_face", "not_jpeg", "corrupt", "duplicate", "grayscale", "attributes"):
        assert rule in text
    # who is in the photos: ada's are all one person, grace's another, nobody in both
    people = doc.one("section", id="identities")
    counts = {r.attrs["data-student"]: [td.text() for td in r.find_all("td")][1:3]
              for r in people.one("table", id="people-per-student").find_all("tr")
              if "data-student" in r.attrs}
    assert counts == {s: [str(summary[s]["accepted"]), "1"] for s in ("ada", "grace")}
    assert "Nobody: every person is in one student's photos only." in people.text()


def test_each_person_in_two_submissions_is_shown_with_both_students_photos(klass, tmp_path):
    """accepted.csv says ada's b.jpg and grace's g1.jpg show one person."""
    path = klass.paths["accepted"]
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["identity"] = "4"
    write_csv(path, [*rows[0]], rows)
    _, doc = render(klass, tmp_path / "reports")
    people = doc.one("section", id="identities")
    (person,) = people.find_all("div", cls="shared")
    assert person.attrs["data-person"] == "4"
    assert "ada: 1 photo, grace: 1 photo" in person.one("h4").text()
    shown = [(f.attrs["data-student"], f.attrs["data-file"])
             for f in person.find_all("figure", cls="person-photo")]
    assert shown == [("ada", "b.jpg"), ("grace", "g1.jpg")]
    assert all(img.attrs["src"].startswith("data:image/jpeg;base64,")
               for img in person.find_all("img", cls="thumb"))
    ada = people.one("tr", data_student="ada")
    assert ada.find_all("td")[3].text() == "grace" and "identity-flag" in ada.classes


def test_without_identities_the_section_says_why(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports")
    assert "No identities: face recognition is off" in doc.one("section", id="identities").text()


def test_the_identity_check_of_generated_faces_is_shown_with_its_pairs(klass, tmp_path):
    later = later_stages(tmp_path)
    details = read_details(later["evaluate_details"], "evaluate")
    details.values["identity_match_fraction"] = 0.25
    write_record("evaluate", details, later["evaluate_metrics"], later["evaluate_details"])
    Image.new("RGB", (260, 142), (200, 200, 30)).save(later["memorization"] / "identity-000.png")
    (later["memorization"] / "identities.json").write_text(json.dumps({
        "same_person_distance": 0.6,
        "self_check": {"train": {"fraction": 0.97, "expect": "1: the training crops"},
                       "val": {"fraction": 0.01, "expect": "0: other people"}},
        "pairs": [{"generated": 3, "train": "ada/<b>b</b>.jpg", "distance": 0.41,
                   "same_person": True, "png": "identity-000.png"}],
    }))
    _, doc = render(klass, tmp_path / "reports", **later)
    evaluation = doc.one("section", id="evaluate")
    keys = [tr.one("th").text() for tr in evaluation.one("table", cls="numbers").children]
    at = keys.index("id_match")
    assert keys[at + 1:at + 3] == ["identity: train crops read as training people",
                                   "identity: val crops read as training people"]
    captions = [f.one("figcaption").text() for f in evaluation.find_all("figure",
                                                                        cls="stage-figure")]
    assert ("generated image 3 and training crop ada/<b>b</b>.jpg: face distance 0.41, the same "
            "person (below 0.6)") in captions


# ---------------------------------------------------------------- order, feedback, training

SECTIONS = ["summary", "overview", "students", "attributes", "identities", "crop", "train",
            "evaluate"]


def top_sections(doc: Node) -> list[str]:
    return [n.attrs["id"] for n in doc.one("body").children if n.tag == "section"]


def test_sections_come_in_the_order_of_the_task(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports", **later_stages(tmp_path))
    assert top_sections(doc) == SECTIONS
    links = [a.attrs["href"] for a in doc.one("nav").find_all("a")]
    assert links == [f"#{s}" for s in SECTIONS[1:]]


def test_students_with_errors_come_first(klass, tmp_path):
    kept = [f for f in read_findings(klass.paths["findings"])
            if not (f.student == "ada" and f.severity.value == "error")]  # fmt: skip
    write_findings(kept, klass.paths["findings"])
    _, doc = render(klass, tmp_path / "reports")
    cards = [c.attrs["data-student"] for c in doc.find_all("section", cls="student")]
    rows = [r.attrs["data-student"] for r in doc.one("table", id="overview-table").find_all("tr")
            if "data-student" in r.attrs]  # fmt: skip
    assert cards == rows == ["grace", "ada"]


def test_each_card_shows_the_students_feedback_with_a_copy_button(klass, tmp_path):
    folder = tmp_path / "reports" / "feedback"
    messages = {"ada": "Hello ada,\n\nPhotos to redo:\n- <b>x</b>.jpg: blurry & dark.\n",
                "grace": "Hello grace,\n\nNothing to redo. Thank you!\n"}  # fmt: skip
    write_feedback(folder, messages)
    html, doc = render(klass, tmp_path / "reports", feedback=folder)
    assert "<b>x</b>.jpg" not in html  # escaped
    for card in doc.find_all("section", cls="student"):
        text = card.one("pre", cls="feedback-text")
        assert "\n".join(text.parts) == messages[card.attrs["data-student"]]
        button = card.one("button", cls="copy-feedback")
        assert button.attrs["data-target"] == text.attrs["id"]
    assert len({n.attrs["id"] for n in doc.find_all("pre", cls="feedback-text")}) == 2


def test_the_feedback_stage_output_is_shown_as_written(klass, tmp_path):
    from pipeline.feedback import run_feedback

    out = tmp_path / "reports" / "feedback"
    paths = run_feedback(manifest=klass.paths["manifest"], findings=klass.paths["findings"],
                         accepted=klass.paths["accepted"], out_dir=out).paths  # fmt: skip
    _, doc = render(klass, tmp_path / "reports", feedback=out)
    shown = {c.attrs["data-student"]: "".join(c.one("pre", cls="feedback-text").parts)
             for c in doc.find_all("section", cls="student")}  # fmt: skip
    assert shown == {p.stem: p.read_text(encoding="utf-8") for p in paths}


def test_without_the_feedback_stage_the_cards_say_so(klass, tmp_path):
    _, doc = render(klass, tmp_path / "reports", feedback=tmp_path / "nowhere")
    for card in doc.find_all("section", cls="student"):
        assert not card.find_all("button", cls="copy-feedback")
        assert "feedback stage has not run" in card.text()


def test_training_is_a_small_table_and_curves_not_every_key(klass, tmp_path):
    later = later_stages(tmp_path)
    write_record("train", Record({
        "model": "dcgan", "steps": 300, "g_loss": 1.234567, "d_loss": 0.5, "images": 40,
        "train_seconds": 15.2, "device": "cpu", "stored_size": 64, "precision": "fp32",
        "parameters": {"generator": 1000, "discriminator": 900},
    }), later["train_metrics"], later["train_details"])  # fmt: skip
    _, doc = render(klass, tmp_path / "reports", **later)
    train = doc.one("section", id="train")
    headline = [tr.one("th").text() for tr in train.one("table", cls="numbers").children]
    # the headlines DVC compares, then the facts a reader asks first
    assert headline == ["g_loss", "d_loss", "model", "steps", "images", "train_seconds", "device"]
    assert "1.235" in train.one("table", cls="numbers").text()
    details = [tr.one("th").text() for tr in train.one("table", cls="details").children]
    assert details == ["stored_size", "precision", "parameters.generator",
                       "parameters.discriminator"]  # fmt: skip
    assert train.find_all("figure", cls="line-chart")
