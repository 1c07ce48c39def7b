import hashlib
import zipfile

from PIL import Image

from pipeline.config import IngestParams
from pipeline.formats.manifest import ATTRIBUTES, PHOTO, read_manifest, write_manifest
from pipeline.ingest import ingest
from tests.conftest import face, jpeg_bytes, write_student


def test_manifest_records_hash_real_format_and_oriented_size(tmp_path):
    root = tmp_path / "subs"
    photo = jpeg_bytes(face().resize((640, 480)))
    exif = Image.Exif()
    exif[0x0112] = 8
    turned = jpeg_bytes(face().resize((640, 480)), exif=exif.tobytes())
    png = tmp_path / "x.png"
    face().resize((700, 500)).save(png)
    write_student(root, "ada", {"a.jpg": photo, "b.jpg": turned, "c.jpg": png.read_bytes()})
    with zipfile.ZipFile(root / "bob.zip", "w") as zf:
        zf.writestr("p.jpg", photo)

    manifest = ingest(root, IngestParams())
    rows = {(r.student, r.file): r for r in manifest.rows}
    a = rows[("ada", "a.jpg")]
    assert a.kind == PHOTO and a.sha256 == hashlib.sha256(photo).hexdigest()
    assert (a.bytes, a.format, a.width, a.height) == (len(photo), "JPEG", 640, 480)
    assert (rows[("ada", "b.jpg")].width, rows[("ada", "b.jpg")].height) == (480, 640)
    assert rows[("ada", "c.jpg")].format == "PNG"
    assert rows[("ada", "attributes.csv")].kind == ATTRIBUTES
    assert rows[("bob", "p.jpg")].sha256 == a.sha256
    assert manifest.students == ["ada", "bob"]

    write_manifest(manifest, tmp_path / "m.csv", tmp_path / "f.csv")
    again = read_manifest(tmp_path / "m.csv", tmp_path / "f.csv")
    assert again.rows == manifest.rows and again.findings == manifest.findings


def test_oversized_file_is_not_read(tmp_path):
    root = tmp_path / "subs"
    write_student(root, "ada", {"big.jpg": b"\xff\xd8\xff" + bytes(5000)})
    manifest = ingest(root, IngestParams(max_file_bytes=1000))
    assert [r.file for r in manifest.rows if r.kind == PHOTO] == []
    assert any(f.file == "big.jpg" and "could not be read" in f.message for f in manifest.findings)
