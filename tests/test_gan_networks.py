"""Networks, losses and the EMA of pipeline/gan: shapes, ranges, conditioning, initialisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.gan.ema import EMA
from pipeline.gan.losses import LOSSES, get_loss
from pipeline.gan.networks import (
    MODELS,
    ModelSpec,
    build_discriminator,
    build_generator,
    count_parameters,
)


def spec(model: str, resolution: int = 16, cond: int = 0, sn: bool = False) -> ModelSpec:
    return ModelSpec(model, resolution, latent_dim=8, g_width=4, d_width=4,
                     condition_dim=cond if model == "cdcgan" else 0, spectral_norm=sn)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("resolution", [16, 32])
def test_generator_and_discriminator_shapes_and_range(model, resolution):
    torch.manual_seed(0)
    s = spec(model, resolution, cond=5)
    g, d = build_generator(s), build_discriminator(s)
    z = torch.randn(6, s.latent_dim) * 3  # large z: tanh must still bound the output
    c = torch.rand(6, 5) if model == "cdcgan" else None
    images = g(z, c)
    assert images.shape == (6, 3, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0  # not a constant image
    logits = d(images, c)
    assert logits.shape == (6,) and torch.isfinite(logits).all()


def test_dcgan64_matches_the_pytorch_example():
    """With latent 100 and widths 64 our DCGAN is the PyTorch DCGAN tutorial's netG / netD,
    whose printed parameter counts are 3,576,704 and 2,765,568."""
    s = ModelSpec("dcgan", 64, latent_dim=100, g_width=64, d_width=64)
    g, d = build_generator(s), build_discriminator(s)
    assert count_parameters(g) == 3_576_704
    assert count_parameters(d) == 2_765_568
    convs = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in convs] == [512, 256, 128, 64, 3]
    weights = torch.cat([m.weight.detach().flatten() for m in convs])
    assert abs(weights.mean().item()) < 0.002
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    bn = [m.weight.detach() for m in d.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert torch.cat(bn).mean().item() == pytest.approx(1.0, abs=0.01)


def test_conditional_generator_output_depends_on_the_condition_only_when_it_changes():
    torch.manual_seed(1)
    s = spec("cdcgan", 16, cond=6)
    g, d = build_generator(s).eval(), build_discriminator(s).eval()
    z = torch.randn(4, s.latent_dim)
    female = torch.tensor([[1.0, 0, 0, 1, 0, 0.3]] * 4)
    male = torch.tensor([[0.0, 1, 0, 1, 0, 0.3]] * 4)
    with torch.no_grad():
        a, a_again, b = g(z, female), g(z, female), g(z, male)
        assert torch.equal(a, a_again)
        assert (a - b).abs().max() > 1e-4 * a.abs().max()
        assert not torch.allclose(d(a, female), d(a, male))
    with pytest.raises(ValueError, match="needs condition vectors of width 6"):
        g(z, None)
    with pytest.raises(ValueError, match="width 6, got width 3"):
        g(z, female[:, :3])


def test_unconditional_models_ignore_the_condition():
    torch.manual_seed(2)
    g = build_generator(spec("dcgan")).eval()
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(g(z, None), g(z, torch.rand(3, 5)))


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_spectral_norm_bounds_every_discriminator_layer(model):
    torch.manual_seed(3)
    d = build_discriminator(spec(model, 16, sn=True)).train()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    x = torch.randn(4, 3, 16, 16)
    for _ in range(30):  # power iterations run in training-mode forwards
        d(x)
    layers = [m for m in d.modules() if hasattr(m, "parametrizations")]
    assert len(layers) >= 3
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_specs_that_cannot_be_built_say_why():
    with pytest.raises(ValueError, match="power of two"):
        spec("dcgan", 48).check()
    with pytest.raises(ValueError, match="needs condition vectors"):
        ModelSpec("cdcgan", 16, 8, 4, 4, condition_dim=0).check()
    with pytest.raises(ValueError, match="one of mlp, dcgan, cdcgan"):
        ModelSpec("stylegan", 16, 8, 4, 4).check()


# ---------------------------------------------------------------- losses


def test_bce_loss_is_binary_cross_entropy_of_the_sigmoid():
    torch.manual_seed(4)
    real, fake = torch.randn(32) * 3, torch.randn(32) * 3
    bce = get_loss("bce")
    ones, zeros = torch.ones(32), torch.zeros(32)
    expected_d = (F.binary_cross_entropy(torch.sigmoid(real), ones)
                  + F.binary_cross_entropy(torch.sigmoid(fake), zeros))
    assert bce.discriminator(real, fake) == pytest.approx(expected_d.item(), rel=1e-5)
    expected_g = F.binary_cross_entropy(torch.sigmoid(fake), ones)
    assert bce.generator(fake) == pytest.approx(expected_g.item(), rel=1e-5)
    # stable where sigmoid saturates: a confident, wrong D costs its logit, not inf
    assert bce.generator(torch.tensor([-200.0])) == pytest.approx(200.0)


def test_hinge_loss_is_zero_beyond_the_margin():
    hinge = get_loss("hinge")
    assert hinge.discriminator(torch.tensor([2.0, 1.0]), torch.tensor([-1.5, -3.0])) == 0
    assert hinge.discriminator(torch.tensor([0.0]), torch.tensor([0.5])) == pytest.approx(2.5)
    assert hinge.generator(torch.tensor([1.0, 3.0])) == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="bce, hinge"):
        get_loss("wgan")
    assert set(LOSSES) == {"bce", "hinge"}


# ---------------------------------------------------------------- EMA


def test_ema_follows_the_model_with_a_warm_up():
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    ema = EMA(model, decay=0.9)
    start = ema.model[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(7.0)
    ema.update(model, step=0)  # warm-up decay (1 + 0) / (10 + 0) = 0.1
    assert torch.allclose(ema.model[0].weight, start + 0.9, atol=1e-6)
    assert torch.equal(ema.model[1].running_mean, model[1].running_mean)  # copied
    before = ema.model[0].weight.clone()
    ema.update(model, step=1000)  # decay capped at 0.9
    assert torch.allclose(ema.model[0].weight, 0.9 * before + 0.1 * model[0].weight, atol=1e-6)
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert math.isclose(ema.decay, 0.9)
