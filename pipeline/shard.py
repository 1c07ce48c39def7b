"""The shard stage: crops (and augmented copies) into WebDataset tar shards, split by student.

Split: every student is in exactly one split, so no person's face is both trained on and used to
measure the generator. A student's place depends only on (shard.seed, student id): students are
ranked by a hash of both and the first `round(val_fraction x students)` go to val. At least one
student goes to val when val_fraction > 0, and at least one always stays in train: with a single
student val is empty (index.json says so in `note`), with two it holds one of them.

Augmented copies go to train only: val stays the real photos, which is what FID and the
memorization check must be measured against.

Shards: `<split>-NNNNNN.tar` with `shard.shard_size` samples each, samples in an order shuffled
by `shard.seed` (a stream over the shards then mixes students). Each sample is `<key>.png` (the
crop's own PNG bytes) and `<key>.json`: `{"student", "file", "copy", "attributes", "condition"}`
where `copy` is 0 for the crop itself and k for its k-th augmented copy, `attributes` holds the
17 values as text and `condition` is the encoded vector. Keys are `NNNNNN_<student>_<photo>_<copy>`
with every character outside [A-Za-z0-9_-] replaced by `-` (WebDataset splits a member name at
the first dot); the running number keeps them unique. Tar headers are fixed (mtime 0, uid/gid 0,
mode 644, no user names), so the same input gives byte-identical shards.

`encoding.json` is the condition layout the conditional GAN uses: one block per attribute column,
`{"column", "kind", "values", "offset", "width"}`. A choice column is a one-hot block over its
vocabulary values in vocabulary order (all zeros for a value outside the vocabulary); `age` is one
number, (age - min) / (max - min) over the vocabulary's range, clipped to [0, 1] (0.5 when
unreadable). `identification_mark` is free text: no fixed set of values a generator could be
asked for, so it is left out of the condition (it stays in `attributes`).

`index.json`: per split the sample count (originals, augmented), the students and the shard
names, plus the bytes written.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from pipeline.attributes import VocabularyError, load_vocabulary
from pipeline.config import ShardParams
from pipeline.formats.crops import read_augmented_index, read_crops_index
from pipeline.io import atomic_path

SPLITS = ("train", "val")
ONE_HOT = "one_hot"
SCALAR = "scalar"


class ShardError(ValueError):
    """The inputs of the shard stage do not fit together; the message says how."""


@dataclass(frozen=True)
class Block:
    """One attribute's place in the condition vector."""

    column: str
    kind: str  # ONE_HOT or SCALAR
    values: tuple[str, ...]  # ONE_HOT: the vocabulary in order; SCALAR: ()
    offset: int
    width: int
    low: float = 0.0  # SCALAR: the value that maps to 0
    high: float = 1.0  # SCALAR: the value that maps to 1


@dataclass(frozen=True)
class Encoding:
    blocks: tuple[Block, ...]
    left_out: tuple[str, ...]  # attribute columns not in the condition (free text)

    @property
    def width(self) -> int:
        return sum(b.width for b in self.blocks)

    def encode(self, attributes: Mapping[str, str]) -> list[float]:
        """The condition vector of one photo's attribute values (trimmed, lower-cased text)."""
        vector = [0.0] * self.width
        for block in self.blocks:
            value = str(attributes.get(block.column, "")).strip().lower()
            if block.kind == ONE_HOT:
                if value in block.values:
                    vector[block.offset + block.values.index(value)] = 1.0
            else:
                try:
                    number = (float(value) - block.low) / (block.high - block.low)
                except ValueError:
                    number = 0.5
                vector[block.offset] = min(1.0, max(0.0, number)) if math.isfinite(number) else 0.5
        return vector

    def known(self, attributes: Mapping[str, str]) -> bool:
        """Whether every encoded value is in the vocabulary (or a number, for a scalar)."""
        for block in self.blocks:
            value = str(attributes.get(block.column, "")).strip().lower()
            if block.kind == ONE_HOT and value not in block.values:
                return False
            if block.kind == SCALAR:
                try:
                    float(value)
                except ValueError:
                    return False
        return True

    def to_json(self) -> dict[str, Any]:
        blocks = [{**asdict(b), "values": list(b.values)} for b in self.blocks]
        return {"width": self.width, "blocks": blocks,
                "left_out": list(self.left_out)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Encoding:
        blocks = tuple(Block(**{**b, "values": tuple(b["values"])}) for b in data["blocks"])
        return cls(blocks, tuple(data["left_out"]))


def make_encoding(columns: Iterable[tuple[str, str, tuple[str, ...] | tuple[float, float]]]
                  ) -> Encoding:
    """Lay out (column, kind, values or (low, high)) one block after another; kind "text" is
    left out."""
    blocks: list[Block] = []
    left_out: list[str] = []
    offset = 0
    for column, kind, spec in columns:
        if kind == ONE_HOT:
            values = tuple(str(v) for v in spec)
            blocks.append(Block(column, ONE_HOT, values, offset, len(values)))
            offset += len(values)
        elif kind == SCALAR:
            low, high = (float(v) for v in spec)
            if not high > low:
                raise ShardError(f"{column}: the range {low}..{high} is empty")
            blocks.append(Block(column, SCALAR, (), offset, 1, low, high))
            offset += 1
        else:
            left_out.append(column)
    return Encoding(tuple(blocks), tuple(left_out))


def load_encoding(vocabulary_yaml: Path) -> Encoding:
    """The condition layout for the vocabulary (schemas/attributes.yaml), in its order.

    A `choice` column is a one-hot block, an `integer` column one number scaled to [0, 1] over
    its range; free `text` is left out of the condition.
    """
    try:
        vocab = load_vocabulary(vocabulary_yaml)
    except VocabularyError as exc:
        raise ShardError(str(exc)) from None
    columns: list[tuple[str, str, Any]] = []
    for c in vocab.columns:
        if c.kind == "choice":
            columns.append((c.name, ONE_HOT, c.values))
        elif c.kind == "integer":
            columns.append((c.name, SCALAR, (c.min, c.max)))
        else:
            columns.append((c.name, "text", ()))
    return make_encoding(columns)


def split_students(students: Iterable[str], val_fraction: float, seed: int
                   ) -> dict[str, list[str]]:
    """Students per split (sorted); see the module docstring for the rule."""
    if not 0.0 <= val_fraction < 1.0:
        raise ShardError(f"shard.val_fraction must be at least 0 and below 1, got {val_fraction}")
    ranked = sorted(set(students), key=lambda s: (_rank(seed, s), s))
    n_val = round(val_fraction * len(ranked))
    if val_fraction > 0:
        n_val = max(n_val, 1)
    n_val = min(n_val, max(len(ranked) - 1, 0))
    return {"train": sorted(ranked[n_val:]), "val": sorted(ranked[:n_val])}


def run_shard(crops_dir: Path, augmented_dir: Path, encoding: Encoding, out_dir: Path,
              params: ShardParams) -> dict[str, Any]:
    """Write the shards, index.json and encoding.json into `out_dir` (replaced as a whole).

    Reads `crops_dir`/index.csv and the crops it lists, `augmented_dir`/index.csv and the copies
    it lists. Returns the contents of index.json.
    """
    if params.shard_size < 1:
        raise ShardError(f"shard.shard_size must be at least 1, got {params.shard_size}")
    crops_dir, augmented_dir, out_dir = Path(crops_dir), Path(augmented_dir), Path(out_dir)
    crops = read_crops_index(crops_dir)
    attributes_of: dict[tuple[str, str], dict[str, str]] = {}
    columns = [b.column for b in encoding.blocks] + list(encoding.left_out)
    if crops:
        missing = [c for c in columns if c not in crops[0]]
        if missing:
            raise ShardError(f"{crops_dir / 'index.csv'} has no column {', '.join(missing)}; "
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
            shards: list[str] = []
            for first in range(0, len(ordered), params.shard_size):
                shard_name = f"{name}-{len(shards):06d}.tar"
                with tarfile.open(tmp / shard_name, "w", format=tarfile.PAX_FORMAT) as tar:
                    for number, (student, file, copy, path) in enumerate(
                            ordered[first:first + params.shard_size], start=first):
                        attrs = attributes_of[student, file]
                        unknown += not encoding.known(attrs)
                        meta = {"student": student, "file": file, "copy": copy,
                                "attributes": attrs, "condition": encoding.encode(attrs)}
                        key = sample_key(number, student, file, copy)
                        _add(tar, f"{key}.png", path.read_bytes())
                        _add(tar, f"{key}.json", json.dumps(
                            meta, ensure_ascii=False, sort_keys=True).encode("utf-8"))
                shards.append(shard_name)
            index["splits"][name] = {
                "samples": len(ordered),
                "originals": sum(1 for s in ordered if s[2] == 0),
                "augmented": sum(1 for s in ordered if s[2] != 0),
                "students": split[name],
                "shards": shards,
                "bytes": sum((tmp / s).stat().st_size for s in shards),
            }
        index["unknown_attribute_rows"] = unknown
        if not split["val"]:
            index["note"] = ("val is empty: with fewer than 2 students (or val_fraction 0) every "
                             "student is in train; evaluate against train or add students")
        _write_json(tmp / "index.json", index)
        _write_json(tmp / "encoding.json", encoding.to_json())
    return index


def read_shards(paths: Iterable[Path]) -> Iterator[tuple[str, Image.Image, dict[str, Any]]]:
    """(key, RGB image, json metadata) of every sample in the shards, in stored order."""
    for path in paths:
        for key, png, meta in read_samples(path):
            with Image.open(io.BytesIO(png)) as im:
                image = im.convert("RGB")
            yield key, image, meta


def read_samples(path: Path) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
    """(key, PNG bytes, json metadata) of every sample of one shard, in stored order.

    ShardError, saying to re-run the shard stage, when the file is missing or not a tar, or a
    sample lacks its .png or .json or the .json is not an object.
    """
    try:
        with tarfile.open(path, "r") as tar:
            pending: dict[str, dict[str, bytes]] = {}
            for member in tar:
                if not member.isfile():
                    continue
                base = PurePosixPath(member.name)
                stem, _, ext = base.name.partition(".")  # WebDataset: the key ends at the first dot
                key = (base.parent / stem).as_posix() if base.parent.name else stem
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                parts = pending.setdefault(key, {})
                parts[ext] = data
                if "png" in parts and "json" in parts:
                    del pending[key]
                    yield key, parts["png"], _sample_meta(path, key, parts["json"])
            for key, parts in sorted(pending.items()):
                lacking = "png" if "png" not in parts else "json"
                raise ShardError(f"{path.name}: sample {key} has no .{lacking} member; re-run "
                                 "the shard stage")
    except FileNotFoundError:
        raise ShardError(f"{path} does not exist; re-run the shard stage") from None
    except (OSError, tarfile.TarError) as exc:
        raise ShardError(f"{path} cannot be read as a tar shard ({exc}); re-run the shard "
                         "stage") from None


def _sample_meta(path: Path, key: str, data: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShardError(f"{path.name}: sample {key}: its .json is not valid JSON ({exc}); "
                         "re-run the shard stage") from None
    if not isinstance(meta, dict):
        raise ShardError(f"{path.name}: sample {key}: its .json is not an object; re-run the "
                         "shard stage")
    return meta


def sample_key(number: int, student: str, file: str, copy: int) -> str:
    """A WebDataset key: no dots, unique through its running number."""
    return f"{number:06d}_{_safe(student)}_{_safe(PurePosixPath(file).stem)}_{copy}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def _rank(seed: int, *parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in (seed, *parts)).encode()).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
