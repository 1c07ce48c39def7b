"""FID, KID and Inception Score between generated images and real crops, with their conventions.

The numbers come from torchmetrics (`FrechetInceptionDistance`, `KernelInceptionDistance`,
`InceptionScore`). Each of those would run its own Inception network over the images; here the
features are extracted ONCE (one pass gives the 2048-d pool features for FID/KID and the 1008
unbiased logits for IS) and handed to the torchmetrics classes through an identity "feature"
module, which they accept in place of their own network. torchmetrics' KID and IS cannot take a
local weights file at all, so this is also what lets every number use the file from params.yaml.

The network is torchmetrics' `NoTrainInceptionV3` ("inception-v3-compat", torch-fidelity's port
of the 2015-12-05 TensorFlow Inception, the one FID is defined with), fed uint8 images. The
conventions that change the numbers (clean-fid's findings) are named once, in CONVENTIONS, and
written next to every number by the evaluate stage.

Weights: `load_inception(path)` uses the local file when a path is given; otherwise the file in
torch's hub cache where torch-fidelity's own download puts it; otherwise it tries that download,
but only after a quick check that the host answers at all, so an offline machine gets a clear
"unavailable" record in seconds instead of hanging on network timeouts. No other network is ever
used in Inception's place.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               "weights-inception-2015-12-05-6726825d.pth")
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_NAME = "inception-v3-compat"
FEATURE_DIM = 2048
KID_SUBSET_SIZE = 1000  # torchmetrics' and the KID paper's default; reduced for small sets
KID_SUBSETS = 100
IS_SPLITS = 10  # the Inception Score paper's convention
BATCH_SIZE = 64
PROBE_SECONDS = 3.0  # how long the "is the download host reachable" check may take
DOWNLOAD_SOCKET_TIMEOUT = 60.0  # a download that stalls this long is abandoned

# What changes the numbers, written next to them (evaluate stage).
CONVENTIONS = {
    "feature_extractor": f"torchmetrics NoTrainInceptionV3 '{INCEPTION_NAME}' "
                         f"(torch-fidelity {WEIGHTS_FILE}), {FEATURE_DIM}-d pool features",
    "inception_resize": "uint8 RGB resized to 299x299 by torch bilinear interpolation with "
                        "antialias=True (torchmetrics' default, not torch-fidelity's TF1 legacy "
                        "resize and not clean-fid's PIL bicubic)",
    "image_format": "generated images quantised to uint8 in memory (lossless, as PNG); real crops "
                    "decoded from the shards' PNGs; no JPEG anywhere",
    "kid": f"polynomial kernel degree 3, {KID_SUBSETS} subsets of min({KID_SUBSET_SIZE}, "
           "real count, generated count) samples",
    "inception_score": f"unbiased logits, {IS_SPLITS} splits",
    "fid_bias": "FID grows as the sample count falls: compare only values at equal counts",
}


@dataclass(frozen=True)
class Inception:
    """A loaded feature extractor, or why there is none. `module` maps uint8 N x 3 x H x W to
    (N x 2048 pool features, N x 1008 unbiased logits)."""

    module: nn.Module | None
    source: str | None  # the weights file used
    sha256: str | None  # of that file, so a reader can tell which weights made the number
    reason: str | None  # why module is None

    @property
    def available(self) -> bool:
        return self.module is not None


class InceptionFeatures(nn.Module):
    """torchmetrics' FID Inception giving pool features and unbiased logits from one pass."""

    def __init__(self, weights_path: str | None):
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(name=INCEPTION_NAME,
                                      features_list=[str(FEATURE_DIM), "logits_unbiased"],
                                      feature_extractor_weights_path=weights_path)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The public forward returns only the first requested feature; the underlying pass
        # (torchmetrics' copy of torch-fidelity's, resize included) returns all of them.
        pool, logits = self.net._torch_fidelity_forward(images)
        return pool.reshape(len(images), -1), logits.reshape(len(images), -1)


def hub_weights_path() -> Path:
    """Where torch-fidelity's own download stores (and looks for) the weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def where_to_put_weights() -> str:
    """The instruction an unavailable record carries."""
    return (f"download {WEIGHTS_URL} on a machine with network and either set "
            f"evaluate.inception_weights in params.yaml to its path or copy it to "
            f"{hub_weights_path()}")


def load_inception(weights_path: str = "", device: str | torch.device = "cpu") -> Inception:
    """The Inception feature extractor from `weights_path`, else torch's hub cache, else
    torch-fidelity's download; an `Inception` with `reason` (never an exception) when none works.
    """
    if weights_path:
        path = Path(weights_path)
        if not path.is_file():
            return _unavailable(f"evaluate.inception_weights names {path}, which does not exist")
    elif hub_weights_path().is_file():
        path = hub_weights_path()
    else:
        host = WEIGHTS_URL.split("/")[2]
        problem = _unreachable(host)
        if problem:
            return _unavailable(f"no weights file and {host} cannot be reached to download "
                                f"them ({problem})")
        path = None
    try:
        if path is None:
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT)
            try:
                module = InceptionFeatures(None)
            finally:
                socket.setdefaulttimeout(previous)
            path = hub_weights_path()
        else:
            module = InceptionFeatures(str(path))
    except Exception as exc:  # a bad file or a failed download: record it, do not crash
        where = f"the weights file {path}" if path else "the download"
        return _unavailable(f"{where} could not be loaded as torch-fidelity's Inception "
                            f"({type(exc).__name__}: {str(exc)[:200]})")
    return Inception(module.to(device).eval(), str(path), _sha256(path), None)


def _unavailable(reason: str) -> Inception:
    return Inception(None, None, None, f"{reason}; to get FID/KID/IS, {where_to_put_weights()}")


def _unreachable(host: str) -> str | None:
    """None when a TCP connection to host:443 opens within PROBE_SECONDS, else what went wrong.

    Runs in a thread because name resolution has no timeout of its own.
    """
    def connect() -> None:
        with socket.create_connection((host, 443), timeout=PROBE_SECONDS):
            pass

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(connect).result(timeout=PROBE_SECONDS + 1)
    except concurrent.futures.TimeoutError:
        return f"no answer within {PROBE_SECONDS + 1:.0f} s"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        pool.shutdown(wait=False)
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Features:
    pool: torch.Tensor  # N x D, float64, on the CPU
    logits: torch.Tensor | None  # N x classes, for the Inception Score


def extract_features(feature: nn.Module, images: torch.Tensor, device: str | torch.device = "cpu",
                     batch_size: int = BATCH_SIZE,
                     advance: Callable[[int], None] | None = None) -> Features:
    """Run `feature` over uint8 N x 3 x H x W `images` in batches (`advance(n)` after each).

    `feature` returns either a tensor (N x D) or a pair (features, logits) as InceptionFeatures
    does; any fixed module will do for testing the plumbing.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images N x 3 x H x W, got {images.dtype} "
                         f"{tuple(images.shape)}")
    pools: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            out = feature(images[start:start + batch_size].to(device))
            if isinstance(out, tuple):
                pools.append(out[0].reshape(len(out[0]), -1).double().cpu())
                logits.append(out[1].double().cpu())
            else:
                pools.append(out.reshape(len(out), -1).double().cpu())
            if advance is not None:
                advance(len(pools[-1]))
    if not pools:
        raise ValueError("no images to extract features from")
    return Features(torch.cat(pools), torch.cat(logits) if logits else None)


class _Given(nn.Module):
    """The identity: lets torchmetrics' metrics take features already extracted."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@dataclass(frozen=True)
class Score:
    """One metric: its value(s), or None with the reason."""

    value: float | None
    std: float | None = None
    note: str | None = None


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> Score:
    """torchmetrics' Fréchet distance between two N x D feature sets.

    Not defined (None, with the reason) when either set has fewer samples than feature
    dimensions: the covariance estimate is then singular and the value meaningless.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    dim = real.shape[1]
    if len(real) < dim or len(fake) < dim:
        return Score(None, note=(f"not defined: {len(real)} real and {len(fake)} generated "
                                 f"samples, at least {dim} (the feature dimension) needed on "
                                 "each side for a full-rank covariance"))
    metric = FrechetInceptionDistance(feature=_Given(dim))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return Score(float(metric.compute()))


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, seed: int) -> tuple[Score, int]:
    """torchmetrics' KID (mean and std over subsets) and the subset size used.

    The subset size is KID_SUBSET_SIZE or the smaller sample count when that is less (KID stays
    unbiased, only noisier); the random subsets come from `seed`.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(KID_SUBSET_SIZE, len(real), len(fake))
    if size < 2:
        return Score(None, note=f"not defined: {len(real)} real and {len(fake)} generated "
                                "samples, at least 2 needed on each side"), size
    note = None
    if size < KID_SUBSET_SIZE:
        note = (f"subsets of {size} instead of {KID_SUBSET_SIZE} (too few samples): "
                "comparable only with values at the same subset size")
    with _quiet():
        metric = KernelInceptionDistance(feature=_Given(real.shape[1]), subsets=KID_SUBSETS,
                                         subset_size=size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return Score(float(mean), float(std), note), size


def inception_score(logits: torch.Tensor, seed: int) -> Score:
    """torchmetrics' Inception Score (mean and std over IS_SPLITS splits) of N x classes logits."""
    from torchmetrics.image.inception import InceptionScore

    if len(logits) < IS_SPLITS:
        return Score(None, note=f"not defined: {len(logits)} samples, at least {IS_SPLITS} "
                                f"needed for {IS_SPLITS} splits")
    with _quiet():
        metric = InceptionScore(feature=_Given(logits.shape[1]), splits=IS_SPLITS)
    metric.update(logits)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return Score(float(mean), float(std))



@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torchmetrics' warning that it keeps the features in memory: that is the point."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        yield
