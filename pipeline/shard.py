"""The shard stage: crops (and augmented copies) into WebDataset tar shards, split by person.

Split: no person's face may be both trained on and used to measure the generator, and a student's
photos may show other people than the student, as another student's may (a room-mate, a sibling,
a famous face from the web). So the unit of the split is the group of students linked by the
people their accepted photos share (`validate.identities`: accepted.csv's identity column), found
transitively: if ana and ben share a person and ben and eve another, all three are one group. A
student who shares no one is a group alone, and without identities (face recognition off, or no
accepted.csv) every student is, which is the split by student.

Which groups go to val depends only on (shard.seed, student ids): students are ranked by a hash of
both, a group by its first-ranked student, and groups are taken in that order while they fit in
the validation share, `round(val_fraction x students)` students; a group that does not fit is
passed over and stays in train, and index.json's `split` report says so (`notes`), as it says when
val ends up smaller than its share. At least one student goes to val when val_fraction > 0 (when
no group fits, the smallest one that leaves train non-empty, and the note says val is over its
share), and at least one always stays in train: with a single student, or a single group, val is
empty (index.json says so in `note`). Without shared people this is exactly the split by student.

Augmented copies go to train only: val stays the real photos, which is what FID and the
memorization check must be measured against.

Order: `shard.shard_size` samples per shard, in an order shuffled by `shard.seed` (a stream over
the shards then mixes students). The layout of the shards and index.json is
`pipeline.formats.shards`; the condition of each sample comes from the attribute encoding of the
vocabulary (`pipeline.formats.encoding`, written beside the shards as encoding.json).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.attributes import VocabularyError, load_vocabulary
from pipeline.config import ShardParams
from pipeline.formats.accepted import identities_of, read_accepted
from pipeline.formats.common import FormatError
from pipeline.formats.crops import INDEX, read_augmented_index, read_crops_index
from pipeline.formats.encoding import ONE_HOT, SCALAR, Encoding, make_encoding, write_encoding
from pipeline.formats.shards import SPLIT_REPORT, SPLITS, ShardSample, write_index, write_split
from pipeline.io import atomic_path


class ShardError(ValueError):
    """The inputs of the shard stage do not fit together; the message says how."""


def load_encoding(vocabulary_yaml: Path) -> Encoding:
    """The condition layout for the vocabulary (schemas/attributes.yaml), in its order.

    A `choice` column is a one-hot block, an `integer` column one number scaled to [0, 1] over
    its range; free `text` is left out of the condition.
    """
    try:
        vocab = load_vocabulary(vocabulary_yaml)
        columns: list[tuple[str, str, Any]] = []
        for c in vocab.columns:
            if c.kind == "choice":
                columns.append((c.name, ONE_HOT, c.values))
            elif c.kind == "integer":
                columns.append((c.name, SCALAR, (c.min, c.max)))
            else:
                columns.append((c.name, "text", ()))
        return make_encoding(columns)
    except (VocabularyError, ValueError) as exc:
        raise ShardError(str(exc)) from None


@dataclass(frozen=True)
class SplitPlan:
    """Which students go where, and why (the `split` report of index.json)."""

    splits: dict[str, list[str]]  # split -> students, sorted
    by: str  # "person": groups of students who share people; "student": no identities known
    share: int  # students the validation share asks for
    groups: list[dict[str, Any]]  # groups of more than one student: students, people, split
    notes: list[str]

    def report(self) -> dict[str, Any]:
        return {"by": self.by, "val_share": self.share, "groups": self.groups,
                "notes": self.notes}


def student_groups(students: Iterable[str], identities: Mapping[tuple[str, str], int]
                   ) -> list[tuple[list[str], list[int]]]:
    """(students, the people they share) for every group of students linked, transitively, by a
    person in the photos of two of them; a student who shares no one is a group alone."""
    parent = {s: s for s in set(students)}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    shown_by: dict[int, set[str]] = defaultdict(set)
    for (student, _), person in identities.items():
        if student in parent:
            shown_by[person].add(student)
    for people in shown_by.values():
        first, *rest = sorted(people)
        for other in rest:
            parent[root(other)] = root(first)
    members: dict[str, list[str]] = defaultdict(list)
    for s in sorted(parent):
        members[root(s)].append(s)
    shared: dict[str, set[int]] = defaultdict(set)
    for person, people in shown_by.items():
        if len(people) > 1:
            shared[root(next(iter(people)))].add(person)
    return [(group, sorted(shared[root(group[0])])) for group in members.values()]


def plan_split(students: Iterable[str], identities: Mapping[tuple[str, str], int],
               val_fraction: float, seed: int) -> SplitPlan:
    """The split of `students` by the groups of `student_groups` (see the module docstring)."""
    groups = student_groups(students, identities)
    n = sum(len(g) for g, _ in groups)
    share = round(val_fraction * n)
    if val_fraction > 0:
        share = max(share, 1)
    share = min(share, max(n - 1, 0))
    ranked = sorted(groups, key=lambda g: min((_rank(seed, s), s) for s in g[0]))
    val: list[str] = []
    passed: list[tuple[list[str], list[int], int]] = []  # (group, people, places left then)
    for group, people in ranked:
        if len(val) == share:
            break
        if len(val) + len(group) <= share:
            val += group
        else:
            passed.append((group, people, share - len(val)))
    notes = []
    if share and not val:
        fitting = [g for g in ranked if len(g[0]) < n]
        if fitting:
            group, people = min(fitting, key=lambda g: len(g[0]))
            val = list(group)
            passed = [p for p in passed if p[0] != group]
            notes.append(f"no group fits in the validation share of {share}: val holds "
                         f"{_names(group)} ({len(group)} students, who share {_people(people)})")
    elif len(val) < share:
        notes.append(f"val holds {len(val)} students, fewer than the validation share of "
                     f"{share}: the groups left are too large")
    notes[:0] = [f"{_names(group)} share {_people(people)} and stay together in train: "
                 f"{len(group)} students do not fit in the {left} place(s) left of the "
                 f"validation share of {share}" for group, people, left in passed]
    in_val = set(val)
    splits = {"train": sorted(s for g, _ in groups for s in g if s not in in_val),
              "val": sorted(val)}
    report = [{"students": g, "people": p, "split": "val" if g[0] in in_val else "train"}
              for g, p in sorted(groups) if len(g) > 1]
    return SplitPlan(splits, "person" if identities else "student", share, report, notes)


def split_students(students: Iterable[str], val_fraction: float, seed: int
                   ) -> dict[str, list[str]]:
    """Students per split (sorted) when no two share a person."""
    return plan_split(students, {}, val_fraction, seed).splits


def _names(students: list[str]) -> str:
    return ", ".join(students[:-1]) + f" and {students[-1]}" if len(students) > 1 else students[0]


def _people(people: list[int]) -> str:
    return ("person " if len(people) == 1 else "people ") + ", ".join(map(str, people))


def run_shard(crops_dir: Path, augmented_dir: Path, vocabulary_yaml: Path, out_dir: Path,
              params: ShardParams, accepted_csv: Path | None = None) -> dict[str, Any]:
    """The shard stage: `write_shards` with the encoding of the vocabulary in `vocabulary_yaml`
    (schemas/attributes.yaml). Returns the contents of index.json."""
    return write_shards(crops_dir, augmented_dir, load_encoding(vocabulary_yaml), out_dir, params,
                        accepted_csv)


def write_shards(crops_dir: Path, augmented_dir: Path, encoding: Encoding, out_dir: Path,
                 params: ShardParams, accepted_csv: Path | None = None) -> dict[str, Any]:
    """Write the shards, index.json and encoding.json into `out_dir` (replaced as a whole).

    Reads `crops_dir`/index.csv and the crops it lists, `augmented_dir`/index.csv and the copies
    it lists, and the identity column of `accepted_csv` (validate's accepted.csv; without it the
    split is by student). Returns the contents of index.json.
    """
    crops_dir, augmented_dir, out_dir = Path(crops_dir), Path(augmented_dir), Path(out_dir)
    crops = read_crops_index(crops_dir)
    attributes_of: dict[tuple[str, str], dict[str, str]] = {}
    columns = [b.column for b in encoding.blocks] + list(encoding.left_out)
    if crops:
        missing = [c for c in columns if c not in crops[0]]
        if missing:
            raise ShardError(f"{crops_dir / INDEX} has no column {', '.join(missing)}; "
                             "is the vocabulary the one validate used? Re-run crop.")
    for row in crops:
        attributes_of[row["student"], row["file"]] = {c: row[c] for c in columns}
    identities = _identities(accepted_csv)
    plan = plan_split((r["student"] for r in crops), identities, params.val_fraction,
                      params.seed)
    if accepted_csv is not None and not identities and crops:
        plan.notes.insert(0, NO_IDENTITIES)
    split = plan.splits
    in_split = {s: name for name in SPLITS for s in split[name]}

    samples: dict[str, list[tuple[str, str, int, Path]]] = {name: [] for name in SPLITS}
    for row in crops:
        samples[in_split[row["student"]]].append(
            (row["student"], row["file"], 0, crops_dir / PurePosixPath(row["crop"])))
    for row in read_augmented_index(augmented_dir):
        key = (row["student"], row["file"])
        if key not in attributes_of:
            raise ShardError(f"augmented copy {row['path']} is of {key[1]} ({key[0]}), which is "
                             "not among the crops; re-run augment")
        if in_split[row["student"]] == "train":
            samples["train"].append((row["student"], row["file"], int(row["copy"]),
                                     augmented_dir / PurePosixPath(row["path"])))

    index: dict[str, Any] = {"splits": {}, "val_fraction": params.val_fraction,
                             "seed": params.seed, "shard_size": params.shard_size,
                             "condition_width": encoding.width}
    unknown = 0
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for name in SPLITS:
            ordered = sorted(samples[name], key=lambda s: (_rank(params.seed, *s[:3]), s[:3]))
            written = []
            for student, file, copy, path in ordered:
                attrs = attributes_of[student, file]
                unknown += not encoding.known(attrs)
                condition = encoding.encode(attrs)
                written.append(ShardSample(student, file, copy, path, attrs, condition))
            index["splits"][name] = write_split(tmp, name, written, params.shard_size,
                                                split[name])
        index["unknown_attribute_rows"] = unknown
        index[SPLIT_REPORT] = plan.report()
        if not split["val"]:
            index["note"] = ("val is empty: with fewer than 2 students, or all of them sharing "
                             "people (or val_fraction 0), every student is in train; evaluate "
                             "against train or add students")
        write_index(tmp, index)
        write_encoding(tmp, encoding)
    return index


def _identities(accepted_csv: Path | None) -> dict[tuple[str, str], int]:
    if accepted_csv is None:
        return {}
    try:
        return identities_of(read_accepted(Path(accepted_csv))[1])
    except FormatError as exc:
        raise ShardError(str(exc)) from None


NO_IDENTITIES = ("split by student: accepted.csv names no person in any photo "
                 "(validate.identities.enabled is false, or validate ran before face "
                 "recognition)")


def _rank(seed: int, *parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in (seed, *parts)).encode()).hexdigest()
