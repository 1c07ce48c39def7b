"""encoding.json: how the 17 attributes become the condition vector of the conditional GAN.

One block per attribute column, `{"column", "kind", "values", "offset", "width", "low",
"high"}`, in the vocabulary's order, with the total `width` and the columns `left_out`. A ONE_HOT
block covers the vocabulary's values in order (all zeros for a value outside them); a SCALAR block
is one number, (value - low) / (high - low) clipped to [0, 1] (0.5 when unreadable). Free text
(`identification_mark`) has no fixed set of values a generator could be asked for, so it is left
out. The shard stage writes it beside the shards; a conditional generator.pt carries a copy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.formats.common import FormatError

ENCODING_JSON = "encoding.json"
ONE_HOT = "one_hot"
SCALAR = "scalar"


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
    left out. ValueError for a scalar whose range is empty."""
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
                raise ValueError(f"{column}: the range {low}..{high} is empty")
            blocks.append(Block(column, SCALAR, (), offset, 1, low, high))
            offset += 1
        else:
            left_out.append(column)
    return Encoding(tuple(blocks), tuple(left_out))


def write_encoding(folder: Path, encoding: Encoding) -> None:
    text = json.dumps(encoding.to_json(), indent=2, ensure_ascii=False) + "\n"
    (Path(folder) / ENCODING_JSON).write_text(text, encoding="utf-8")


def read_encoding(folder: Path) -> dict[str, Any] | None:
    """encoding.json in `folder` as stored (None when there is none); FormatError when it is not
    an encoding."""
    path = Path(folder) / ENCODING_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path} cannot be read ({exc}); re-run the shard stage") from None
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise FormatError(f"{path} is not an attribute encoding (no blocks); re-run the shard "
                          "stage")
    return data
