"""manifest.csv: every file handed in, one `ManifestRow` a row; ingest writes it with
ingest_findings.csv beside it (what ingest skipped, `pipeline.formats.findings`).

`source` is the folder or zip under submissions/, relative to it; `member` the path inside it;
`kind` is PHOTO or ATTRIBUTES; `width` and `height` (after EXIF orientation) are empty when the
photo's header could not be read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pipeline.findings import Finding
from pipeline.formats.common import read_csv, write_csv
from pipeline.formats.findings import read_findings, write_findings

PHOTO = "photo"
ATTRIBUTES = "attributes"


@dataclass(frozen=True)
class ManifestRow:
    student: str
    file: str
    source: str
    member: str
    kind: str  # PHOTO or ATTRIBUTES
    sha256: str
    bytes: int
    format: str
    width: int | None
    height: int | None


MANIFEST_COLUMNS = [f.name for f in fields(ManifestRow)]


@dataclass
class Manifest:
    rows: list[ManifestRow]
    findings: list[Finding]  # what could not be read or was ignored, per student

    @property
    def students(self) -> list[str]:
        seen = dict.fromkeys(r.student for r in self.rows)
        seen.update(dict.fromkeys(f.student for f in self.findings if f.student))
        return sorted(seen)


@dataclass(frozen=True)
class ManifestFiles:
    """Where ingest writes (and validate reads) manifest.csv and its ingest_findings.csv."""

    manifest: Path
    findings: Path


def write_manifest(manifest: Manifest, manifest_csv: Path, findings_csv: Path) -> None:
    write_csv(manifest_csv, MANIFEST_COLUMNS, (asdict(row) for row in manifest.rows))
    write_findings(manifest.findings, findings_csv)


def read_manifest(manifest_csv: Path, findings_csv: Path) -> Manifest:
    return Manifest(read_manifest_rows(manifest_csv), read_findings(findings_csv, "ingest"))


def read_manifest_rows(manifest_csv: Path) -> list[ManifestRow]:
    """The rows of manifest.csv; FormatError when it is missing or lacks a column."""
    _, rows = read_csv(manifest_csv, MANIFEST_COLUMNS, "ingest")
    return [
        ManifestRow(
            r["student"],
            r["file"],
            r["source"],
            r["member"],
            r["kind"],
            r["sha256"],
            int(r["bytes"]),
            r["format"],
            int(r["width"]) if r["width"] else None,
            int(r["height"]) if r["height"] else None,
        )
        for r in rows
    ]
