"""Does the generator copy training faces? Nearest training crop of every generated image.

Spaces (each an embedding in which distance is plain L2):

- `pixels`: the raw RGB values at the model's resolution; distance = RMS difference in 0-255
  units. A literal copy is ~0 here; easy to read, but a copy shifted by a pixel or re-lit looks
  far away.
- `pixels32`: each image reduced to 32 x 32 (area averaging), then standardised to mean 0 and
  standard deviation 1 over all its values; distance = RMS difference in those units (0 for a
  copy, about 1.4 for two unrelated images). Reduction removes the high-frequency texture a GAN
  adds on top of a copied face; standardising removes global brightness/contrast changes (as
  the colour jitter of augment makes). This is the space near-copies are judged in when
  Inception is not available.
- `inception` (when the weights are there): 2048-d pool features scaled to unit length;
  distance = chord length sqrt(2 - 2 cos). Semantic similarity: robust to small shifts; the
  evaluate stage adds it.

Each training crop also enters mirrored, because augment flips crops: a generator that learned a
flipped copy is still copying.

Near-copy threshold, per space: the distance from each training crop to its nearest OTHER
training crop (leave-one-out, its own mirror excluded, exact duplicates ignored) measures how
close two distinct real photos of this class get — including two photos of the same student
taken minutes apart. A generated image closer to a training crop than the NEAR_COPY_PERCENTILE-th
percentile of those distances is closer than 99 % of real photos are to any other real photo:
flagged as a near-copy. The threshold thus adapts to the resolution, the class and the space,
with no magic constant in distance units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

NEAR_COPY_PERCENTILE = 1.0
NEAR_COPY_RULE = (f"distance below percentile {NEAR_COPY_PERCENTILE:g} of the training crops' "
                  "distances to their nearest other training crop (mirrors included, duplicates "
                  "ignored)")
EMBED_SIZE = 32
PERCENTILES = (0, 1, 5, 25, 50, 75, 95, 100)
DUPLICATE = 1e-6  # distances at or below this between training crops: the same image twice
DUPLICATE_CANDIDATES = 8  # a crop's closest few are checked exactly for duplicates of it
CHUNK = 1024  # queries per distance-matrix block, to bound memory
PAIR_THUMB = 128
MAX_PAIR_PNGS = 32


def pixel_embedding(images: torch.Tensor) -> torch.Tensor:
    """`pixels`: uint8 N x 3 x H x W -> N x (3·H·W) floats whose L2 distance is the RMS
    difference in 0-255 units."""
    flat = images.reshape(len(images), -1).float()
    return flat / flat.shape[1] ** 0.5


def pixels32_embedding(images: torch.Tensor) -> torch.Tensor:
    """`pixels32`: uint8 N x 3 x H x W -> N x 3072, reduced to 32 x 32 and standardised per
    image, scaled so L2 distance is the RMS difference in standard deviations."""
    x = images.float()
    if x.shape[-1] != EMBED_SIZE or x.shape[-2] != EMBED_SIZE:
        x = F.interpolate(x, size=(EMBED_SIZE, EMBED_SIZE), mode="area")
    flat = x.reshape(len(x), -1)
    flat = (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp_min(1e-3)
    return flat / flat.shape[1] ** 0.5


def unit_embedding(features: torch.Tensor) -> torch.Tensor:
    """Features scaled to unit length: L2 distance = sqrt(2 - 2 cos)."""
    return F.normalize(features.float(), dim=1)


def mirrored(images: torch.Tensor) -> torch.Tensor:
    return images.flip(-1)


@dataclass(frozen=True)
class SpaceResult:
    """Nearest training crop of every generated image in one space."""

    name: str
    distances: np.ndarray  # (n_generated,) distance to the nearest training crop
    neighbours: np.ndarray  # (n_generated,) index into the training set
    neighbour_mirrored: np.ndarray  # (n_generated,) bool: the nearest was the mirrored crop
    train_nn: np.ndarray  # (n_train,) leave-one-out nearest-neighbour distance within train
    threshold: float | None  # None when train has fewer than 2 distinct crops

    @property
    def flagged(self) -> np.ndarray:
        """Indices of generated images closer than the threshold, closest first."""
        if self.threshold is None:
            return np.zeros(0, dtype=np.int64)
        hits = np.flatnonzero(self.distances < self.threshold)
        return hits[np.argsort(self.distances[hits], kind="stable")]

    def summary(self) -> dict[str, float | int | None]:
        """Flat numbers for metrics/evaluate.json."""
        out: dict[str, float | int | None] = {
            f"p{p}": round(float(np.percentile(self.distances, p)), 6) for p in PERCENTILES}
        out["train_nn_median"] = (round(float(np.median(self.train_nn)), 6)
                                  if len(self.train_nn) else None)
        out["threshold"] = None if self.threshold is None else round(self.threshold, 6)
        out["flagged"] = int(len(self.flagged))
        out["flagged_fraction"] = round(len(self.flagged) / len(self.distances), 6)
        return out


def nearest(queries: torch.Tensor, refs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to and index of the nearest row of `refs` for every row of `queries`.

    The search uses torch.cdist's fast matrix-product form on centred data; the distance to the
    chosen row is then recomputed directly in float64, because the fast form leaves errors of
    ~1e-3 where an exact copy must read 0.
    """
    centre = refs.float().mean(0, keepdim=True)
    refs_c = refs.float() - centre
    dists, index = [], []
    for start in range(0, len(queries), CHUNK):
        q = queries[start:start + CHUNK].float() - centre
        best = torch.cdist(q, refs_c).argmin(dim=1)
        dists.append(_exact(q, refs_c[best]))
        index.append(best)
    return torch.cat(dists), torch.cat(index)


def _exact(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.double() - b.double()).norm(dim=-1)


def train_nn_distances(train: torch.Tensor, train_mirrored: torch.Tensor) -> np.ndarray:
    """For each training embedding, the distance to the nearest other crop or its mirror
    (its own mirror excluded; exact duplicates ignored, so one duplicated photo cannot
    drive the threshold to zero)."""
    m = len(train)
    refs = torch.cat([train, train_mirrored]).float()
    centre = refs.mean(0, keepdim=True)
    refs = refs - centre
    k = min(DUPLICATE_CANDIDATES, 2 * m - 2)
    if k < 1:  # a single crop has no other to be near
        return np.zeros(0)
    out = []
    step = max(1, CHUNK // k)  # bounds the step x k x D block of exact differences
    for start in range(0, m, step):
        q = train[start:start + step].float() - centre
        d = torch.cdist(q, refs)
        rows = torch.arange(start, start + len(q))
        local = rows - start
        d[local, rows] = float("inf")
        d[local, rows + m] = float("inf")
        # Exact distances to the few closest, so exact duplicates are recognised as such.
        candidates = d.topk(k, dim=1, largest=False).indices
        exact = (q[:, None, :] - refs[candidates]).norm(dim=-1)  # direct: no cancellation
        exact[exact <= DUPLICATE] = float("inf")
        out.append(exact.min(dim=1).values)
    result = torch.cat(out).numpy()
    return result[np.isfinite(result)]


def nearest_training(name: str, generated: torch.Tensor, train: torch.Tensor,
                     train_mirrored: torch.Tensor) -> SpaceResult:
    """Nearest training crop (or its mirror) of each generated embedding, and the threshold."""
    if len(train) == 0 or len(generated) == 0:
        raise ValueError("the memorization check needs at least one generated and one "
                         "training image")
    m = len(train)
    dist, idx = nearest(generated, torch.cat([train, train_mirrored]))
    train_nn = train_nn_distances(train, train_mirrored)
    threshold = (float(np.percentile(train_nn, NEAR_COPY_PERCENTILE))
                 if len(train_nn) else None)
    idx_np = idx.numpy()
    return SpaceResult(name, dist.numpy().astype(np.float64), idx_np % m, idx_np >= m,
                       train_nn, threshold)


@dataclass(frozen=True)
class Memorization:
    spaces: dict[str, SpaceResult]
    unavailable: dict[str, str] = field(default_factory=dict)  # space -> why it was skipped

    def flagged(self) -> list[int]:
        """Generated images flagged in any space, closest (in the first flagging space) first."""
        seen: dict[int, None] = {}
        for result in self.spaces.values():
            for i in result.flagged:
                seen.setdefault(int(i), None)
        return list(seen)

    def summary(self) -> dict[str, object]:
        """Numbers per space (None for a space that could not be computed; `unavailable` says
        why) and how many generated images any space flagged."""
        out: dict[str, object] = {name: r.summary() for name, r in self.spaces.items()}
        out.update(dict.fromkeys(self.unavailable))
        out["flagged_any"] = len(self.flagged())
        return out


def check_memorization(generated: torch.Tensor, train: torch.Tensor,
                       features: Mapping[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
                       | None = None,
                       unavailable: Mapping[str, str] | None = None) -> Memorization:
    """Nearest training crop of each generated image in `pixels`, `pixels32` and any extra
    spaces.

    `generated`, `train`: uint8 N x 3 x R x R at the same resolution. `features` maps a space
    name to embeddings (generated, train, mirrored train) already computed, e.g. Inception's;
    `unavailable` names spaces that could not be computed and why.
    """
    if generated.shape[1:] != train.shape[1:]:
        raise ValueError(f"generated images are {tuple(generated.shape[1:])} but training crops "
                         f"{tuple(train.shape[1:])}; resize the crops to the model's resolution")
    flipped = mirrored(train)
    spaces = {
        "pixels": nearest_training("pixels", pixel_embedding(generated), pixel_embedding(train),
                                   pixel_embedding(flipped)),
        "pixels32": nearest_training("pixels32", pixels32_embedding(generated),
                                     pixels32_embedding(train), pixels32_embedding(flipped)),
    }
    for name, (gen, tr, tr_m) in (features or {}).items():
        spaces[name] = nearest_training(name, gen, tr, tr_m)
    return Memorization(spaces, dict(unavailable or {}))


def write_pairs(result: Memorization, generated: torch.Tensor, train: torch.Tensor,
                train_keys: Sequence[str], out_dir: Path) -> list[dict[str, object]]:
    """Side-by-side PNGs (generated | nearest training crop) of the flagged images, at most
    MAX_PAIR_PNGS, as `pair-NNN.png` in `out_dir`; returns one record per flagged image with
    its nearest crop, distance and threshold in every space."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, object]] = []
    for rank, i in enumerate(result.flagged()):
        record: dict[str, object] = {"generated": i, "png": None}
        shown = None  # the first space that flags it: its neighbour goes in the picture
        for name, space in result.spaces.items():
            j, flip = int(space.neighbours[i]), bool(space.neighbour_mirrored[i])
            distance = float(space.distances[i])
            flagged = space.threshold is not None and distance < space.threshold
            record[name] = {"train": train_keys[j], "mirrored": flip,
                            "distance": round(distance, 6), "threshold": space.threshold,
                            "flagged": flagged}
            if flagged and shown is None:
                shown = (name, j, flip, distance)
        if rank < MAX_PAIR_PNGS and shown is not None:
            name, j, flip, distance = shown
            ref = train[j].flip(-1) if flip else train[j]
            png = f"pair-{rank:03d}.png"
            _pair_image(generated[i], ref, f"{name} {distance:.3g}").save(out_dir / png)
            record["png"] = png
        records.append(record)
    return records


def _pair_image(a: torch.Tensor, b: torch.Tensor, caption: str) -> Image.Image:
    """Two uint8 3 x H x W images side by side, enlarged without smoothing, with a caption."""
    return pair_sheet(*(Image.fromarray(x.permute(1, 2, 0).numpy()) for x in (a, b)), caption,
                      Image.Resampling.NEAREST)


def pair_sheet(generated: Image.Image, training: Image.Image, caption: str,
               resample: Image.Resampling) -> Image.Image:
    """A generated image and a training image side by side, PAIR_THUMB px each, captioned."""
    sheet = Image.new("RGB", (2 * PAIR_THUMB + 4, PAIR_THUMB + 14), "white")
    for k, image in enumerate((generated, training)):
        sheet.paste(image.resize((PAIR_THUMB, PAIR_THUMB), resample), (k * (PAIR_THUMB + 4), 0))
    ImageDraw.Draw(sheet).text((2, PAIR_THUMB + 1), f"generated | training   {caption}",
                               fill="black")
    return sheet
