"""DiffAugment: each transform does what the reference does, per image, and is differentiable."""

from __future__ import annotations

import pytest
import torch

from pipeline.gan.diffaugment import cutout, diff_augment, parse_policy, translation

FULL = ("color", "translation", "cutout")


def images(n: int = 16, side: int = 32) -> torch.Tensor:
    """Distinct, non-zero images in [-1, 1]: a gradient plus an index-dependent offset."""
    ramp = torch.linspace(0.1, 0.9, side)
    base = (ramp.view(1, 1, side, 1) + ramp.view(1, 1, 1, side)) / 2
    x = base.expand(n, 3, side, side).clone()
    x += torch.arange(n).view(n, 1, 1, 1) * 0.001 + torch.tensor([0.0, 0.02, 0.04]).view(1, 3, 1, 1)
    return x


def best_shift(out: torch.Tensor, src: torch.Tensor, limit: int) -> tuple[int, int] | None:
    """The (dy, dx) with which `src` shifted (zeros coming in) equals `out`, if any."""
    side = src.shape[-1]
    for dy in range(-limit, limit + 1):
        for dx in range(-limit, limit + 1):
            shifted = torch.zeros_like(src)
            ys, yd = slice(max(0, -dy), side - max(0, dy)), slice(max(0, dy), side - max(0, -dy))
            xs, xd = slice(max(0, -dx), side - max(0, dx)), slice(max(0, dx), side - max(0, -dx))
            shifted[:, yd, xd] = src[:, ys, xs]
            if torch.equal(shifted, out):
                return dy, dx
    return None


def test_translation_shifts_each_image_by_at_most_an_eighth():
    torch.manual_seed(0)
    x = images(24, 32)
    out = translation(x)
    shifts = [best_shift(out[i], x[i], limit=6) for i in range(len(x))]
    assert all(s is not None for s in shifts), "every output is a zero-filled shift of its input"
    limit = int(32 * 0.125 + 0.5)
    assert max(max(abs(dy), abs(dx)) for dy, dx in shifts) <= limit
    assert len(set(shifts)) > 5  # drawn per image


def test_cutout_zeroes_one_clipped_square_of_half_the_side():
    torch.manual_seed(1)
    x = images(32, 16)
    out = cutout(x)
    for i in range(len(x)):
        zero = (out[i] == 0).all(dim=0)
        assert torch.equal(out[i][:, ~zero], x[i][:, ~zero])  # the rest is untouched
        rows, cols = zero.any(dim=1).nonzero().flatten(), zero.any(dim=0).nonzero().flatten()
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert zero.sum() == len(rows) * len(cols)  # one axis-aligned rectangle
        assert rows.tolist() == list(range(rows[0], rows[-1] + 1))
    full = [(out[i] == 0).all(dim=0).sum().item() for i in range(len(x))]
    assert 64 in full  # unclipped squares are 8 x 8
    assert min(full) < 64  # some are clipped at the border


def test_color_changes_each_image_by_its_own_brightness_saturation_contrast():
    torch.manual_seed(2)
    x = images(8, 8)
    out = diff_augment(x, ("color",))
    assert out.shape == x.shape and not torch.allclose(out, x)
    # contrast and saturation scale deviations around means, brightness shifts: the per-image
    # mean moves by the brightness offset only, which lies in [-0.5, 0.5]
    moved = (out.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3)))
    assert moved.abs().max() <= 0.5 + 1e-5
    assert len(set(torch.round(moved, decimals=4).tolist())) == len(x)


def test_full_policy_keeps_shape_and_device_and_passes_gradients():
    torch.manual_seed(3)
    x = images(4, 16).requires_grad_(True)
    out = diff_augment(x, parse_policy("color,translation,cutout"))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_empty_policy_is_the_identity_and_unknown_names_are_explained():
    x = images(2, 8)
    assert diff_augment(x, parse_policy("")) is x
    assert parse_policy(" color, cutout ") == ("color", "cutout")
    assert parse_policy(FULL) == FULL
    with pytest.raises(ValueError, match="did you mean 'color'"):
        parse_policy("colour,translation")
