"""FID/KID/IS plumbing with a fixed extractor and known distributions; Inception loading."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from pipeline.metrics_fid import (
    WEIGHTS_FILE,
    WEIGHTS_URL,
    extract_features,
    frechet_distance,
    inception_score,
    kernel_distance,
    load_inception,
)


class Flatten(nn.Module):
    """The identity extractor: an image's pixel values are its features (3 x 2 x 2 = 12)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).float()


def gaussian_images(n: int, mean: float, std: float, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.rint(rng.normal(mean, std, (n, 3, 2, 2))), 0, 255)
    return torch.from_numpy(pixels.astype(np.uint8))


def closed_form(a: np.ndarray, b: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2) of the two samples."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def features(images: torch.Tensor) -> torch.Tensor:
    return extract_features(Flatten(), images, batch_size=500).pool


def test_identical_sets_have_fid_zero():
    x = features(gaussian_images(3000, 100, 15, seed=0))
    score = frechet_distance(x, x)
    assert score.note is None
    assert abs(score.value) < 1e-6 * float(x.var(0).sum())


@pytest.mark.parametrize(("shift", "std2", "expected"), [
    (20.0, 15.0, 12 * 20.0**2),  # mean shift only: ||mu1 - mu2||^2 = 12 dims x 20^2
    (0.0, 30.0, 12 * (30.0 - 15.0) ** 2),  # spread only: Tr term = 12 x (s1 - s2)^2
])
def test_shifted_gaussian_gives_the_closed_form(shift, std2, expected):
    real = gaussian_images(4000, 100, 15, seed=1)
    fake = gaussian_images(4000, 100 + shift, std2, seed=2)
    a, b = features(real), features(fake)
    score = frechet_distance(a, b)
    assert score.value == pytest.approx(closed_form(a.numpy(), b.numpy()), rel=1e-6)
    assert score.value == pytest.approx(expected, rel=0.05)  # the population value


def test_fid_not_defined_below_the_feature_dimension():
    x = features(gaussian_images(11, 100, 15, seed=3))
    score = frechet_distance(x, x)
    assert score.value is None
    assert "11 real and 11 generated" in score.note and "at least 12" in score.note


def test_kid_near_zero_for_one_distribution_and_positive_for_two():
    real = features(gaussian_images(300, 100, 15, seed=4)) / 255
    same = features(gaussian_images(300, 100, 15, seed=5)) / 255
    shifted = features(gaussian_images(300, 130, 15, seed=6)) / 255
    kid_same, size = kernel_distance(real, same, seed=0)
    kid_shift, _ = kernel_distance(real, shifted, seed=0)
    assert size == 300 and "subsets of 300" in kid_same.note
    assert kid_shift.value > 0
    assert abs(kid_same.value) < kid_shift.value / 20
    again, _ = kernel_distance(real, shifted, seed=0)
    assert again.value == kid_shift.value  # the subsets come from the seed


def test_kid_subset_size_never_exceeds_the_smaller_set():
    real = features(gaussian_images(50, 100, 15, seed=7))
    fake = features(gaussian_images(20, 100, 15, seed=8))
    score, size = kernel_distance(real, fake, seed=0)
    assert size == 20 and score.value is not None
    score, size = kernel_distance(real, fake[:1], seed=0)
    assert score.value is None and "at least 2" in score.note


def test_inception_score_counts_confident_classes():
    k = 5
    logits = torch.full((200, 1008), -50.0, dtype=torch.float64)
    logits[torch.arange(200), torch.arange(200) % k] = 50.0
    score = inception_score(logits, seed=0)
    assert 4.0 < score.value <= k + 1e-6  # k equally used, perfectly confident classes
    assert inception_score(torch.zeros(200, 1008, dtype=torch.float64), 0).value == \
        pytest.approx(1.0)
    assert inception_score(logits[:9], 0).value is None


def test_missing_weights_file_is_a_record_not_an_error(tmp_path):
    missing = tmp_path / "nope.pth"
    inception = load_inception(str(missing))
    assert not inception.available
    assert str(missing) in inception.reason
    assert WEIGHTS_URL in inception.reason and WEIGHTS_FILE in inception.reason


def test_wrong_weights_file_is_a_record_not_an_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    inception = load_inception(str(path))
    assert not inception.available
    assert "could not be loaded" in inception.reason and str(path) in inception.reason


def test_a_weights_file_of_the_right_layout_loads(tmp_path, monkeypatch):
    # Random weights with torch-fidelity's exact layout: checks the loading path and the feature
    # shapes. (Random weights are not FID's network; nothing here is a FID value.)
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torchmetrics.image.fid import NoTrainInceptionV3

    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    with monkeypatch.context() as m:
        m.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(empty))
    path = tmp_path / WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    inception = load_inception(str(path))
    assert inception.available and inception.source == str(path)
    assert len(inception.sha256) == 64
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    out = extract_features(inception.module, images)
    assert out.pool.shape == (3, 2048) and out.logits.shape == (3, 1008)


def test_extract_features_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        extract_features(Flatten(), torch.rand(2, 3, 2, 2))
