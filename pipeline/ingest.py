"""The ingest stage: what every student handed in, with content hash, real format and size.

`run_ingest` is the stage (the CLI's one call); `ingest` finds the manifest in memory.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.config import IngestParams
from pipeline.findings import Finding, Severity
from pipeline.formats.manifest import (
    ATTRIBUTES,
    PHOTO,
    Manifest,
    ManifestFiles,
    ManifestRow,
    write_manifest,
)
from pipeline.images import ImageError, read_header, sniff_format
from pipeline.io import worker_count
from pipeline.progress import Progress, no_progress
from pipeline.submissions import (
    TABLE_RULE,
    Entry,
    SubmissionError,
    TooLarge,
    discover,
    read_member,
)


def run_ingest(root: Path, params: IngestParams, progress: Progress = no_progress,
               files: ManifestFiles | None = None) -> Manifest:
    """The ingest stage: `ingest`, and with `files` manifest.csv and ingest_findings.csv written
    there (`facedata validate` alone keeps the manifest in memory)."""
    manifest = ingest(root, params, progress)
    if files is not None:
        write_manifest(manifest, files.manifest, files.findings)
    return manifest


def ingest(
    root: Path,
    params: IngestParams,
    progress: Progress = no_progress,
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
    advance = progress("Reading files", len(entries))
    # hashlib and file reads release the GIL
    with ThreadPoolExecutor(worker_count(workers)) as pool:
        for result in pool.map(one, entries):
            if isinstance(result, Finding):
                findings.append(result)
            else:
                rows.append(result)
            advance(1)
    return Manifest(rows, findings)
