"""The validate stage: measure every photo, apply every rule, write findings, accepted, metrics.

`run_validate` is the stage (the CLI's one call); `validate` judges a class in memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from pipeline.attributes import Vocabulary, check_student_attributes, load_vocabulary
from pipeline.config import ValidateParams
from pipeline.faces import estimate_pose
from pipeline.findings import Finding, Severity, Verdict, verdict
from pipeline.formats.accepted import write_accepted
from pipeline.formats.common import FormatError
from pipeline.formats.findings import write_findings
from pipeline.formats.manifest import ATTRIBUTES, PHOTO, Manifest, ManifestFiles, read_manifest
from pipeline.formats.metrics import Record, write_record
from pipeline.identities import RULE as IDENTITY_RULE
from pipeline.identities import AcceptedFace, recognise
from pipeline.measure import ClassData, MeasureCache, Photo, PhotoFile, StudentData, measure_photos
from pipeline.progress import Progress, no_progress
from pipeline.roster import RULES as ROSTER_RULES
from pipeline.roster import Roster, check_roster, load_roster, roster_names
from pipeline.rules import judge_class, judge_photo, rule_ids
from pipeline.submissions import TABLE_RULE, SubmissionError, read_member


@dataclass
class ValidationResult:
    manifest: Manifest
    photos: list[Photo]
    findings: list[Finding]
    attributes: dict[tuple[str, str], dict[str, str]]  # (student, file) -> normalised values
    attribute_columns: list[str]
    roster_names: dict[str, str] = field(default_factory=dict)  # student -> name on the roster
    # (student, file) -> the person in the accepted photo (pipeline.identities)
    identities: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def students(self) -> list[str]:
        """Everyone who handed in, and everyone on the roster who did not."""
        return sorted({*self.manifest.students, *(f.student for f in self.findings if f.student)})

    @property
    def names(self) -> dict[str, str]:
        """student -> name: the roster's, else the one an LMS download gives."""
        return {**self.manifest.names, **self.roster_names}

    def rejected(self) -> set[tuple[str, str]]:
        return {
            (f.student, f.file) for f in self.findings if f.severity is Severity.ERROR and f.file
        }

    def accepted(self) -> list[Photo]:
        bad = self.rejected()
        return [
            ph
            for ph in self.photos
            if (ph.student, ph.file) not in bad and ph.main_face is not None
        ]

    def verdicts(self) -> dict[tuple[str, str], Verdict]:
        """(student, file) -> verdict, for every photo handed in, in the photos' order."""
        own: dict[tuple[str, str], list[Finding]] = {}
        for f in self.findings:
            own.setdefault((f.student, f.file), []).append(f)
        return {
            (ph.student, ph.file): verdict(own.get((ph.student, ph.file), ()),
                                           ph.main_face is not None)
            for ph in self.photos
        }

    def summary(self) -> dict[str, dict[str, object]]:
        """Per student, in photos: handed in, accepted (with warnings among them), rejected; and
        the errors about the submission as a whole (the count, the attribute table, ...)."""
        out: dict[str, dict[str, object]] = {
            s: {"photos": 0, "accepted": 0, "accepted_with_warnings": 0, "rejected": 0,
                "submission_errors": 0}
            for s in self.students
        }
        for (student, _), v in self.verdicts().items():
            counts = out[student]
            counts["photos"] += 1
            counts["rejected" if v is Verdict.REJECTED else "accepted"] += 1
            counts["accepted_with_warnings"] += v is Verdict.ACCEPTED_WITH_WARNINGS
        photos = {(ph.student, ph.file) for ph in self.photos}
        for f in self.findings:
            if (f.severity is Severity.ERROR and f.student in out
                    and (f.student, f.file) not in photos):
                out[f.student]["submission_errors"] += 1
        return out

    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def metrics(self) -> dict[str, object]:
        by_rule = Counter(f.rule for f in self.findings if f.severity is not Severity.INFO)
        by_severity = Counter(f.severity.value for f in self.findings)
        accepted = len(self.accepted())
        return {
            "layout": self.manifest.layout,
            "students": len(self.students),
            "photos": len(self.photos),
            "accepted": accepted,
            "rejected": len(self.photos) - accepted,
            "acceptance_rate": round(accepted / len(self.photos), 4) if self.photos else 0.0,
            # plural keys: DVC reads a key named "error" as a failure to load the file
            "findings": {f"{sev.value}s": by_severity.get(sev.value, 0) for sev in Severity},
            "rules": {rule: by_rule.get(rule, 0)
                      for rule in [*rule_ids(), IDENTITY_RULE, "submission", *ROSTER_RULES]},
        }

    def record(self) -> Record:
        """The counts of `metrics()` with what they mean, for metrics/validate.json and its
        details."""
        return Record(self.metrics(), notes={
            "rejected": "photos with at least one error finding, or with no face to crop",
            "findings": "findings of each severity, about photos and whole submissions",
            "rules": "error and warning findings per rule (docs/RULES.md)",
        })


def run_validate(
    root: Path,
    ingested: Manifest | ManifestFiles,
    schema: Path,
    params: ValidateParams,
    cache_dir: Path | None,
    progress: Progress = no_progress,
    *,
    findings_csv: Path | None = None,
    accepted_csv: Path | None = None,
    metrics_json: Path | None = None,
    details_json: Path | None = None,
) -> ValidationResult:
    """The validate stage: the class `ingested` describes (the manifest in memory, or ingest's
    files) judged against the vocabulary in `schema`; with the four output paths (the pipeline
    stage), findings.csv, accepted.csv, the headline metrics and their details written there.

    A ValueError (VocabularyError, FormatError) saying what to do when the vocabulary or
    ingest's files cannot be used, and a RosterError when `params.roster` names a roster that
    cannot be."""
    outputs = (findings_csv, accepted_csv, metrics_json, details_json)
    if None in outputs and any(outputs):
        raise ValueError("findings_csv, accepted_csv, metrics_json and details_json go together")
    vocabulary = load_vocabulary(schema)
    roster = load_roster(Path(params.roster)) if params.roster else None
    manifest = _read_ingested(ingested) if isinstance(ingested, ManifestFiles) else ingested
    result = validate(root, manifest, params, vocabulary, cache_dir, progress, roster=roster)
    if findings_csv and accepted_csv and metrics_json and details_json:
        write_outputs(result, findings_csv, accepted_csv, metrics_json, details_json)
    return result


def _read_ingested(files: ManifestFiles) -> Manifest:
    for path in (files.manifest, files.findings):
        if not path.is_file():
            raise FormatError(f"{path} does not exist; run `facedata ingest` first")
    try:
        return read_manifest(files.manifest, files.findings)
    except FormatError:
        raise
    except (OSError, ValueError, KeyError) as exc:  # not a CSV ingest wrote at all
        raise FormatError(
            f"{files.manifest} cannot be read ({exc}); run `facedata ingest` again"
        ) from None


def validate(
    root: Path,
    manifest: Manifest,
    params: ValidateParams,
    vocabulary: Vocabulary,
    cache_dir: Path | None,
    progress: Progress = no_progress,
    workers: int | None = None,
    roster: Roster | None = None,
) -> ValidationResult:
    """Judge every photo and attribute table of the class described by `manifest`, then tell who
    is in the accepted photos (`pipeline.identities`, a second pass of `progress`).

    A class with no students, or students with nothing readable, is a valid class. Each file is
    read back no larger than ingest saw it. `workers` threads decode (default: one per core)."""
    root = Path(root)
    photo_rows = [r for r in manifest.rows if r.kind == PHOTO]
    files = [
        PhotoFile(
            r.student,
            r.file,
            r.sha256,
            r.bytes,
            r.format,
            r.width,
            r.height,
            partial(read_member, root, r.source, r.member, r.bytes),
        )
        for r in photo_rows
    ]
    advance = progress("Checking photos", len(files))
    photos = measure_photos(files, params, MeasureCache(cache_dir, params), advance, workers)

    data = ClassData({s: StudentData(s) for s in manifest.students})
    for ph in photos:
        data.students[ph.student].photos.append(ph)
    csv_rows = {r.student: r for r in manifest.rows if r.kind == ATTRIBUTES}
    # a table handed in that ingest could not read: its finding says why, not "none handed in"
    unread = {f.student: f.file for f in manifest.findings if f.rule == TABLE_RULE and f.file}
    findings = list(manifest.findings)
    attributes: dict[tuple[str, str], dict[str, str]] = {}
    for student, sd in data.students.items():
        row = csv_rows.get(student)
        name, data_bytes = (row.file if row else unread.get(student)), None
        if row is not None:
            try:
                data_bytes = read_member(root, row.source, row.member, row.bytes)
            except SubmissionError as exc:  # changed or removed since ingest
                message = f"{row.file} could not be read again: {exc}"
                findings.append(Finding(student, row.file, TABLE_RULE, Severity.ERROR, message))
        photo_files = [ph.file for ph in sd.photos]
        sd.attributes = check_student_attributes(
            student, name, data_bytes, photo_files, vocabulary, params.max_table_rows
        )
        for file, values in sd.attributes.rows.items():
            attributes[(student, file)] = values

    for ph in photos:
        findings.extend(judge_photo(ph, params))
    findings.extend(judge_class(data, params))
    names = {}
    if roster is not None:
        findings.extend(check_roster(roster.students, manifest.students, manifest.names,
                                     roster.path.name))
        # the absent by their roster id, and the submissions the roster knows by id
        names = {r.id: r.name for r in roster.students if r.name}
        names |= roster_names(roster.students, manifest.students)
    result = ValidationResult(manifest, photos, findings, attributes, vocabulary.names, names)
    # after judging: only the accepted photos are recognised (identity findings never reject)
    by_key = {(f.student, f.file): f for f in files}
    faces = [AcceptedFace(by_key[ph.student, ph.file], ph.main_face.box,
                          estimate_pose(ph.main_face.landmarks).roll)
             for ph in result.accepted() if ph.main_face is not None]
    identities = recognise(faces, params, cache_dir, progress, workers)
    result.identities = identities.of
    findings.extend(identities.findings)
    findings.sort(key=lambda f: (f.student, f.file, f.severity is not Severity.ERROR))
    return result


def write_outputs(
    result: ValidationResult,
    findings_csv: Path,
    accepted_csv: Path,
    metrics_json: Path,
    details_json: Path,
) -> None:
    """findings.csv, accepted.csv, the headline metrics and their details
    (`pipeline.formats.metrics`)."""
    write_findings(result.findings, findings_csv, result.verdicts())
    by_key = {(r.student, r.file): r for r in result.manifest.rows}
    photos = []
    for ph in result.accepted():
        key = (ph.student, ph.file)
        photos.append((by_key[key], ph.main_face, result.attributes.get(key, {})))
    write_accepted(accepted_csv, photos, result.attribute_columns, result.identities)
    write_record("validate", result.record(), metrics_json, details_json)
