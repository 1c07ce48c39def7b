"""The shard stage: crops (and augmented copies) into WebDataset tar shards, split by student.

Split: every student is in exactly one split, so no person's face is both trained on and used to
measure the generator. A student's place depends only on (shard.seed, student id): students are
ranked by a hash of both and the first `round(val_fraction x students)` go to val. At least one
student goes to val when val_fraction > 0, and at least one always stays in train: with a single
student val is empty (index.json says so in `note`), with two it holds one of them.

Augmented copies go to train only: val stays the real photos, which is what FID and the
memorization check must be measured against.

Order: `shard.shard_size` samples per shard, in an order shuffled by `shard.seed` (a stream over
the shards then mixes students). The layout of the shards and index.json is
`pipeline.formats.shards`; the condition of each sample comes from the attribute encoding of the
vocabulary (`pipeline.formats.encoding`, written beside the shards as encoding.json).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.attributes import VocabularyError, load_vocabulary
from pipeline.config import ShardParams
from pipeline.formats.crops import INDEX, read_augmented_index, read_crops_index
from pipeline.formats.encoding import ONE_HOT, SCALAR, Encoding, make_encoding, write_encoding
from pipeline.formats.shards import SPLITS, ShardSample, write_index, write_split
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


def split_students(students: Iterable[str], val_fraction: float, seed: int
                   ) -> dict[str, list[str]]:
    """Students per split (sorted); see the module docstring for the rule."""
    ranked = sorted(set(students), key=lambda s: (_rank(seed, s), s))
    n_val = round(val_fraction * len(ranked))
    if val_fraction > 0:
        n_val = max(n_val, 1)
    n_val = min(n_val, max(len(ranked) - 1, 0))
    return {"train": sorted(ranked[n_val:]), "val": sorted(ranked[:n_val])}


def run_shard(crops_dir: Path, augmented_dir: Path, vocabulary_yaml: Path, out_dir: Path,
              params: ShardParams) -> dict[str, Any]:
    """The shard stage: `write_shards` with the encoding of the vocabulary in `vocabulary_yaml`
    (schemas/attributes.yaml). Returns the contents of index.json."""
    return write_shards(crops_dir, augmented_dir, load_encoding(vocabulary_yaml), out_dir, params)


def write_shards(crops_dir: Path, augmented_dir: Path, encoding: Encoding, out_dir: Path,
                 params: ShardParams) -> dict[str, Any]:
    """Write the shards, index.json and encoding.json into `out_dir` (replaced as a whole).

    Reads `crops_dir`/index.csv and the crops it lists, `augmented_dir`/index.csv and the copies
    it lists. Returns the contents of index.json.
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
    split = split_students((r["student"] for r in crops), params.val_fraction, params.seed)
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
        if not split["val"]:
            index["note"] = ("val is empty: with fewer than 2 students (or val_fraction 0) every "
                             "student is in train; evaluate against train or add students")
        write_index(tmp, index)
        write_encoding(tmp, encoding)
    return index


def _rank(seed: int, *parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in (seed, *parts)).encode()).hexdigest()
