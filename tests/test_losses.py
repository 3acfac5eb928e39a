"""Losses by name: SSIM against scikit-image, MS-SSIM range and small patches,
finite gradients everywhere, the CBDNet asymmetric map loss."""

import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

import napari_denoise as nd
from napari_denoise.core.training.losses import (MS_SSIM_WEIGHTS, get_loss, list_losses,
                                                 ms_ssim_scales, ms_ssim_value, ssim_value)

NAMES = ["l2", "l1", "charbonnier", "ssim", "ms_ssim", "l1_ms_ssim", "edge", "mae_mse",
         "psnr", "composite", "cbdnet_asymmetric"]


def _t(a):
    return torch.tensor(a, dtype=torch.float32)[None, None]


def test_names():
    assert list_losses() == NAMES
    assert nd.list_losses() == NAMES
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        get_loss("nope")


@pytest.mark.parametrize("shape,noise", [((40, 50), 0.2), ((64, 64), 0.05), ((33, 71), 0.5)])
def test_ssim_matches_scikit_image(shape, noise):
    r = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    a = 0.5 + 0.4 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    b = np.clip(a + noise * r.standard_normal(shape), 0, 1)
    ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=1)
    assert abs(float(ssim_value(_t(a), _t(b))) - ref) < 1e-3
    assert abs(float(get_loss("ssim")(_t(a), _t(b))) - (1 - ref)) < 1e-3


@pytest.mark.parametrize("side", [8, 32, 64, 100, 170])
def test_ms_ssim_range_and_identity(side):
    g = torch.Generator().manual_seed(side)
    a = torch.rand(2, 1, side, side, generator=g)
    b = (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    with warnings.catch_warnings():  # below 11 px pytorch-msssim warns it skips smoothing
        warnings.simplefilter("ignore", UserWarning)
        v = float(ms_ssim_value(a, b))
        same = float(ms_ssim_value(a, a))
        zero = float(get_loss("ms_ssim")(a, a))
    assert 0.0 <= v <= 1.0
    assert same == pytest.approx(1.0, abs=1e-5)
    assert zero == pytest.approx(0.0, abs=1e-5)


def test_ms_ssim_scales_on_small_patches():
    assert ms_ssim_scales(64) == 3 and ms_ssim_scales(160) == 4 and ms_ssim_scales(161) == 5
    assert ms_ssim_scales(10) == 1 and len(MS_SSIM_WEIGHTS) == 5


def test_ms_ssim_is_pytorch_msssim_on_large_images():
    from pytorch_msssim import ms_ssim

    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 176, 176, generator=g)
    b = (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    assert float(ms_ssim_value(a, b)) == pytest.approx(float(ms_ssim(a, b, data_range=1.0)))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("values", [(0.5, 0.3), (0.4, 0.4)])
def test_finite_with_gradients_on_constant_images(name, values):
    out = torch.full((2, 1, 64, 64), values[0], requires_grad=True)
    target = torch.full((2, 1, 64, 64), values[1])
    loss = get_loss(name)(out, target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert out.grad is not None and torch.isfinite(out.grad).all()


@pytest.mark.parametrize("name", [n for n in NAMES if n != "cbdnet_asymmetric"])
def test_zero_for_identical_images_and_positive_otherwise(name):
    g = torch.Generator().manual_seed(1)
    a = torch.rand(1, 1, 64, 64, generator=g)
    b = (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    f = get_loss(name)
    assert float(f(a, b)) > float(f(a, a)) >= -1e-6
    assert float(f(a, a)) < 2e-3  # Charbonnier's floor is eps = 1e-3


def test_psnr_loss_weighs_patches_by_their_decibels():
    """A batch of one noisy and one nearly clean patch: l2 follows the noisy patch's error
    almost alone; the psnr loss moves by the same amount when either patch's error halves."""
    g = torch.Generator().manual_seed(2)
    target = torch.rand(2, 1, 32, 32, generator=g)
    err = torch.randn(target.shape, generator=g) * torch.tensor([0.2, 0.01]).view(2, 1, 1, 1)
    f = get_loss("psnr")
    base = float(f(target + err, target))
    half = [err.clone(), err.clone()]
    half[0][0] *= 0.5
    half[1][1] *= 0.5
    gains = [base - float(f(target + e, target)) for e in half]
    assert gains[0] == pytest.approx(gains[1], rel=0.05)  # 6 dB on one of two patches: 3 dB
    assert gains[0] == pytest.approx(3.0, abs=0.1)
    l2 = get_loss("l2")
    l2_gains = [float(l2(target + err, target)) - float(l2(target + e, target)) for e in half]
    assert l2_gains[0] > 100 * l2_gains[1]
    psnr = -10 * torch.log10(err.pow(2).flatten(1).mean(1))  # per patch; 60 dB is the cap
    assert base == pytest.approx(float((10 * torch.log10(1 + 10 ** ((60 - psnr) / 10))).mean()))
    assert base == pytest.approx(60 - float(psnr.mean()), abs=0.05)


def test_cbdnet_asymmetric_penalises_under_estimation():
    f = get_loss("cbdnet_asymmetric")
    true = torch.full((1, 1, 16, 16), 0.1)
    under = float(f(true - 0.05, true))
    over = float(f(true + 0.05, true))
    assert under == pytest.approx(0.7 * 0.05 ** 2) and over == pytest.approx(0.3 * 0.05 ** 2)
    # the total-variation term: a rough estimate costs more than a smooth one
    rough = true + 0.05 * (torch.arange(16) % 2).float().view(1, 1, 1, 16)
    assert float(f(rough, true)) > 0.3 * float(((rough - true) ** 2).mean())
