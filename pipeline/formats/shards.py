"""The shards: WebDataset tar files of the crops, their index.json, and the one resize.

`<split>-NNNNNN.tar` (split in SPLITS) holds samples `<key>.png` (the crop's own PNG bytes) and
`<key>.json`: `{"student", "file", "copy", "attributes", "condition"}`, where `copy` is 0 for the
crop itself and k for its k-th augmented copy, `attributes` the 17 values as text and
`condition` the encoded vector (`pipeline.formats.encoding`). Keys are
`NNNNNN_<student>_<photo>_<copy>` with every character outside [A-Za-z0-9_-] replaced by `-`
(WebDataset splits a member name at the first dot); the running number keeps them unique. Tar
headers are fixed (mtime 0, uid/gid 0, mode 644, no user names), so the same samples give
byte-identical shards.

`index.json`: `splits` maps each split to `{"samples", "originals", "augmented", "students",
"shards", "bytes"}` (`write_split` makes that entry); the shard stage adds its settings, a `note`
when val is empty, and SPLIT_REPORT, the split it made: `{"by": "person" | "student",
"val_share": students the validation share asks for, "groups": [{"students", "people",
"split"}, ...] (students kept together because their photos share people, the identities of
accepted.csv), "notes": [what did not go as asked, in words]}`. Readers use `splits`, `note` and
SPLIT_REPORT only.

Every image that leaves the shards for a model is reduced to the model's resolution with RESIZE,
here and nowhere else, so that training and evaluation (FID) see the same pixels.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from pipeline.formats.common import FormatError
from pipeline.io import worker_count

SPLITS = ("train", "val")
INDEX_JSON = "index.json"
SPLIT_REPORT = "split"
RESIZE = "PIL Lanczos"  # named once: the filter changes what the generator learns (and FID)


def to_uint8_image(image: Image.Image, resolution: int) -> np.ndarray:
    """RGB H x W x 3 uint8 at `resolution` squared, reduced with RESIZE."""
    image = image.convert("RGB")
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


# ---------------------------------------------------------------------- writing


@dataclass(frozen=True)
class ShardSample:
    student: str
    file: str
    copy: int  # 0 for the crop itself, k for its k-th augmented copy
    png: Path  # the image; its bytes are stored as they are
    attributes: Mapping[str, str]
    condition: list[float]


def write_split(folder: Path, split: str, samples: Sequence[ShardSample], shard_size: int,
                students: Sequence[str]) -> dict[str, Any]:
    """`samples` in this order into `split`-NNNNNN.tar shards of `shard_size` in `folder`;
    returns the split's entry of index.json."""
    folder = Path(folder)
    shards: list[str] = []
    for first in range(0, len(samples), shard_size):
        name = f"{split}-{len(shards):06d}.tar"
        with tarfile.open(folder / name, "w", format=tarfile.PAX_FORMAT) as tar:
            for number, s in enumerate(samples[first:first + shard_size], start=first):
                meta = {"student": s.student, "file": s.file, "copy": s.copy,
                        "attributes": dict(s.attributes), "condition": s.condition}
                key = sample_key(number, s.student, s.file, s.copy)
                _add(tar, f"{key}.png", s.png.read_bytes())
                _add(tar, f"{key}.json",
                     json.dumps(meta, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        shards.append(name)
    return {
        "samples": len(samples),
        "originals": sum(1 for s in samples if s.copy == 0),
        "augmented": sum(1 for s in samples if s.copy != 0),
        "students": list(students),
        "shards": shards,
        "bytes": sum((folder / s).stat().st_size for s in shards),
    }


def write_index(folder: Path, index: Mapping[str, Any]) -> None:
    text = json.dumps(index, indent=2, ensure_ascii=False) + "\n"
    (Path(folder) / INDEX_JSON).write_text(text, encoding="utf-8")


def sample_key(number: int, student: str, file: str, copy: int) -> str:
    """A WebDataset key: no dots, unique through its running number."""
    return f"{number:06d}_{_safe(student)}_{_safe(PurePosixPath(file).stem)}_{copy}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ShardIndex:
    """index.json of a shards folder."""

    path: Path
    data: dict[str, Any]

    def split(self, name: str) -> dict[str, Any]:
        """The entry of split `name`; FormatError when the index has none."""
        info = self.data["splits"].get(name)
        if not isinstance(info, dict) or not isinstance(info.get("shards"), list):
            raise FormatError(f"{self.path} has no split {name!r}; re-run the shard stage")
        return info

    def shards(self, name: str) -> list[Path]:
        return [self.path.parent / shard for shard in self.split(name)["shards"]]

    @property
    def note(self) -> str:
        return str(self.data.get("note", ""))


def read_index(folder: Path) -> ShardIndex:
    """index.json in `folder`; FormatError, saying to run the shard stage, when it cannot be."""
    path = Path(folder) / INDEX_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{path} does not exist; run the shard stage first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path} cannot be read ({exc}); re-run the shard stage") from None
    if not isinstance(data, dict) or not isinstance(data.get("splits"), dict):
        raise FormatError(f"{path} is not a shard index (no splits); re-run the shard stage")
    return ShardIndex(path, data)


def read_samples(path: Path) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
    """(key, PNG bytes, json metadata) of every sample of one shard, in stored order.

    FormatError, saying to re-run the shard stage, when the file is missing or not a tar, or a
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
                raise FormatError(f"{path.name}: sample {key} has no .{lacking} member; re-run "
                                  "the shard stage")
    except FileNotFoundError:
        raise FormatError(f"{path} does not exist; re-run the shard stage") from None
    except (OSError, tarfile.TarError) as exc:
        raise FormatError(f"{path} cannot be read as a tar shard ({exc}); re-run the shard "
                          "stage") from None


@dataclass(frozen=True)
class SplitImages:
    """The samples of one split, decoded and reduced to one resolution with RESIZE."""

    images: np.ndarray  # uint8 N x R x R x 3, in stored order
    students: list[str]
    files: list[str]
    conditions: list[list[float] | None]  # None for a sample that carries no condition
    stored_size: int  # side of the crops in the shards (0 when there are none)


def read_split(index: ShardIndex, split: str, resolution: int,
               originals_only: bool = False) -> SplitImages:
    """Every sample of `split` (only the crops themselves, copy 0, with `originals_only`) at
    `resolution`; FormatError naming the shard and sample that cannot be used."""
    images: list[np.ndarray] = []
    students: list[str] = []
    files: list[str] = []
    conditions: list[list[float] | None] = []
    sizes: set[int] = set()
    with ThreadPoolExecutor(worker_count()) as pool:  # PNG decoding releases the GIL
        for path in index.shards(split):
            samples = []
            for key, png, meta in read_samples(path):  # the whole shard first: it may be broken
                where = f"{path.name}: sample {key}"
                if originals_only and _copy(where, meta) != 0:
                    continue
                samples.append((where, png))
                conditions.append(_condition(where, meta))
                students.append(str(meta.get("student", "?")))
                files.append(str(meta.get("file", "?")))
            for array, side in pool.map(lambda s: _decode(*s, resolution), samples):
                images.append(array)
                sizes.add(side)
    return SplitImages(
        images=np.stack(images) if images else np.zeros((0, resolution, resolution, 3), np.uint8),
        students=students, files=files, conditions=conditions, stored_size=max(sizes, default=0))


def _sample_meta(path: Path, key: str, data: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path.name}: sample {key}: its .json is not valid JSON ({exc}); "
                          "re-run the shard stage") from None
    if not isinstance(meta, dict):
        raise FormatError(f"{path.name}: sample {key}: its .json is not an object; re-run the "
                          "shard stage")
    return meta


def _copy(where: str, meta: Mapping[str, Any]) -> int:
    try:
        return int(meta.get("copy", 0))
    except (TypeError, ValueError):
        raise FormatError(f"{where}: copy is not a number; re-run the shard stage") from None


def _condition(where: str, meta: Mapping[str, Any]) -> list[float] | None:
    condition = meta.get("condition")
    if condition is not None and not (
            isinstance(condition, list) and all(isinstance(v, int | float) for v in condition)):
        raise FormatError(f"{where}: condition is not a list of numbers")
    return condition


def _decode(where: str, png: bytes, resolution: int) -> tuple[np.ndarray, int]:
    try:
        with Image.open(io.BytesIO(png)) as im:
            im.load()
            image = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise FormatError(f"{where}: the image cannot be decoded ({exc}); re-run the shard "
                          "stage") from None
    if image.width != image.height:
        raise FormatError(f"{where}: the crop is {image.width} x {image.height}, not square; "
                          "re-run the crop stage")
    return to_uint8_image(image, resolution), image.width
