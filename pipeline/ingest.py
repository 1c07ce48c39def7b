"""The ingest stage: what every student handed in, with content hash, real format and size."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pipeline.config import IngestParams
from pipeline.findings import FINDING_COLUMNS, Finding, Severity
from pipeline.images import ImageError, read_header, sniff_format
from pipeline.io import atomic_path, worker_count
from pipeline.safe_text import cell_row, uncell_row
from pipeline.submissions import (
    TABLE_RULE,
    Entry,
    SubmissionError,
    TooLarge,
    discover,
    read_member,
)

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


def ingest(
    root: Path,
    params: IngestParams,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> Manifest:
    """Hash and identify every file of every submission under `root`; never writes there.

    Nothing is decoded: the size comes from the header, the orientation from the EXIF bytes the
    header already holds. `workers` threads read (default: one per core)."""
    submissions, findings = discover(Path(root), params)
    entries: list[tuple[Entry, str]] = []
    for sub in submissions:
        findings.extend(sub.findings)
        entries.extend((e, PHOTO) for e in sub.photos)
        if sub.attributes is not None:
            entries.append((sub.attributes, ATTRIBUTES))

    def one(item: tuple[Entry, str]) -> ManifestRow | Finding:
        entry, kind = item
        table = kind == ATTRIBUTES
        limit = params.max_table_bytes if table else params.max_file_bytes
        try:
            data = read_member(Path(root), entry.source, entry.member, limit)
        except SubmissionError as exc:
            hint = ""
            if isinstance(exc, TooLarge):
                hint = (
                    "; a table of one row per photo is a few kB, hand in only that"
                    if table
                    else "; hand in the photo as the camera saved it"
                )
            return Finding(
                entry.student,
                entry.file,
                TABLE_RULE if table else "submission",
                Severity.ERROR,
                f"{entry.file} could not be read: {exc}{hint}",
            )
        width = height = None
        fmt = "CSV" if kind == ATTRIBUTES else sniff_format(data)
        if kind == PHOTO:
            try:
                header = read_header(data)
                width, height = header.width, header.height
            except ImageError:
                pass  # the corrupt / not_jpeg rules say what is wrong with it
        return ManifestRow(
            entry.student,
            entry.file,
            entry.source,
            entry.member,
            kind,
            hashlib.sha256(data).hexdigest(),
            len(data),
            fmt,
            width,
            height,
        )

    rows: list[ManifestRow] = []
    # hashlib and file reads release the GIL
    with ThreadPoolExecutor(worker_count(workers)) as pool:
        for result in pool.map(one, entries):
            if isinstance(result, Finding):
                findings.append(result)
            else:
                rows.append(result)
            if progress:
                progress(1)
    return Manifest(rows, findings)


def count_files(root: Path, params: IngestParams) -> int:
    """How many files ingest will read (for a progress bar)."""
    submissions, _ = discover(Path(root), params)
    return sum(len(s.photos) + (s.attributes is not None) for s in submissions)


def write_manifest(manifest: Manifest, manifest_csv: Path, findings_csv: Path) -> None:
    with atomic_path(manifest_csv) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, MANIFEST_COLUMNS)
        writer.writeheader()
        for row in manifest.rows:
            writer.writerow(cell_row(asdict(row)))
    write_findings(manifest.findings, findings_csv)


def read_manifest(manifest_csv: Path, findings_csv: Path) -> Manifest:
    with Path(manifest_csv).open(newline="", encoding="utf-8") as fh:
        records = [uncell_row(r) for r in csv.DictReader(fh)]
        rows = [
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
            for r in records
        ]
    return Manifest(rows, read_findings(findings_csv))


def write_findings(findings: list[Finding], path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, FINDING_COLUMNS)
        writer.writeheader()
        for f in findings:
            writer.writerow(cell_row(f.as_row()))


def read_findings(path: Path) -> list[Finding]:
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return [Finding.from_row(uncell_row(r)) for r in csv.DictReader(fh)]
