"""Noise-level estimation (napari_denoise.core.noise) on synthetic data and skimage images."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color, data

from napari_denoise.core.noise import NoiseEstimate, estimate_noise, estimate_sigma_2d


def _gray(rgb):
    return color.rgb2gray(rgb) * 255.0


# natural images on the 0-255 scale, as float64
IMAGES = {
    "camera": lambda: data.camera().astype(np.float64),
    "astronaut": lambda: _gray(data.astronaut()),
    "moon": lambda: data.moon().astype(np.float64),
}


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("sigma", [5, 10, 25, 50])
def test_gaussian_sigma_within_10_percent(name, sigma):
    clean = IMAGES[name]()
    rng = np.random.default_rng(1234)
    noisy = clean + rng.normal(0.0, sigma, clean.shape)
    est = estimate_noise(noisy)
    assert isinstance(est, NoiseEstimate)
    assert est.model == "gaussian"
    assert est.sigma == pytest.approx(sigma, rel=0.10), f"{name}: estimated {est.sigma:.3f}, true {sigma}"


def test_clean_and_nearly_clean_image_give_small_sigma():
    clean = data.camera().astype(np.float64)
    assert estimate_sigma_2d(clean) < 2.0
    noisy = clean + np.random.default_rng(0).normal(0.0, 0.5, clean.shape)
    assert 0.0 <= estimate_noise(noisy).sigma < 2.0


def test_pure_noise():
    rng = np.random.default_rng(7)
    assert estimate_sigma_2d(rng.normal(0.0, 3.0, (200, 200))) == pytest.approx(3.0, rel=0.05)


def test_uint16_data_units():
    rng = np.random.default_rng(5)
    clean = data.camera().astype(np.float64) * 15.0 + 100.0  # up to ~3925
    noisy = np.round(clean + rng.normal(0.0, 60.0, clean.shape)).astype(np.uint16)
    assert noisy.dtype == np.uint16 and noisy.max() > 3500
    assert estimate_noise(noisy).sigma == pytest.approx(60.0, rel=0.10)


def test_uint8_input():
    rng = np.random.default_rng(6)
    clean = data.moon().astype(np.float64)  # no saturated areas, so clipping hardly matters
    noisy = np.clip(np.round(clean + rng.normal(0.0, 10.0, clean.shape)), 0, 255).astype(np.uint8)
    assert estimate_noise(noisy).sigma == pytest.approx(10.0, rel=0.10)


def test_zyx_stack_median_of_planes():
    rng = np.random.default_rng(2)
    cam = data.camera().astype(np.float32)
    clean = np.stack([cam[y : y + 160, x : x + 160] for y, x in [(0, 0), (50, 100), (150, 30), (300, 300)] * 3])
    noisy = clean + rng.normal(0.0, 20.0, clean.shape).astype(np.float32)
    est = estimate_noise(noisy)  # ZYX by default
    assert 1 < len(est.per_plane) <= 8
    assert est.sigma == pytest.approx(20.0, rel=0.10)
    assert est.sigma == pytest.approx(float(np.median(est.per_plane)))
    assert estimate_noise(noisy, axes="ZYX").sigma == pytest.approx(est.sigma)


def test_rgb_and_channel_first():
    rng = np.random.default_rng(3)
    clean = data.astronaut().astype(np.float64)
    noisy = clean + rng.normal(0.0, 15.0, clean.shape)
    est = estimate_noise(noisy)  # YXC by default (last dim 3)
    assert len(est.per_plane) == 3
    assert est.sigma == pytest.approx(15.0, rel=0.10)
    est_c = estimate_noise(np.moveaxis(noisy, -1, 0), axes="CYX")
    assert est_c.sigma == pytest.approx(est.sigma, rel=1e-6)


def test_many_axes_plane_budget():
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 2.0, (3, 4, 2, 32, 32))  # TZCYX
    est = estimate_noise(x, axes="TZCYX")
    assert 2 <= len(est.per_plane) <= 8
    assert est.sigma == pytest.approx(2.0, rel=0.15)


def test_constant_image_is_zero():
    assert estimate_noise(np.full((64, 64), 42, dtype=np.uint8)).sigma == 0.0
    assert estimate_noise(np.zeros((5, 32, 32), dtype=np.float32)).sigma == 0.0
    assert estimate_sigma_2d(np.ones((16, 16))) == 0.0


def test_noise_estimate_object():
    rng = np.random.default_rng(8)
    img = rng.normal(100.0, 4.0, (64, 64)).astype(np.float32)
    est = estimate_noise(img)
    smap = est.sigma_map(img)
    assert smap.dtype == np.float32 and smap.shape == img.shape
    assert np.all(smap == np.float32(est.sigma))
    assert float(est) == est.sigma
    text = str(est)
    assert "gaussian" in text and "sigma" in text


def test_small_image_accepted_at_min_side():
    rng = np.random.default_rng(9)
    assert np.isfinite(estimate_noise(rng.normal(0.0, 1.0, (8, 8))).sigma)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 16)), "empty"),
        (np.array([[np.nan] * 16] * 16), "NaN"),
        (np.full((16, 16), np.inf), "NaN or Inf"),
        (np.zeros((7, 100)), "too small"),
        (np.zeros((4, 100, 5)), "too small"),
        (np.zeros(100), "2 dimensions"),
    ],
)
def test_invalid_input_raises(bad, match):
    with pytest.raises(ValueError, match=match):
        estimate_noise(bad)


def test_estimate_sigma_2d_smaller_than_patch():
    with pytest.raises(ValueError, match="smaller than"):
        estimate_sigma_2d(np.zeros((5, 5)))


@pytest.mark.parametrize("axes", ["YX", "ZYXW", "YYX", "XYZ"])
def test_bad_axes_raise(axes):
    with pytest.raises(ValueError, match="axes"):
        estimate_noise(np.zeros((4, 16, 16)), axes=axes)


def test_x_before_y_is_the_same_estimate_transposed():
    rng = np.random.default_rng(5)
    zyx = (0.5 + 0.1 * rng.standard_normal((3, 48, 64))).astype(np.float32)
    zxy = np.ascontiguousarray(zyx.transpose(0, 2, 1))
    a = estimate_noise(zyx, axes="ZYX").sigma
    assert a == pytest.approx(0.1, rel=0.1)
    assert estimate_noise(zxy, axes="ZXY").sigma == pytest.approx(a, rel=1e-6)


def test_unknown_model_raises():
    with pytest.raises(ValueError, match="unknown noise model"):
        estimate_noise(np.zeros((16, 16)), model="speckle")


def test_sparse_fluorescence_is_signal_dependent():
    """A few bright objects on a large dark background: most blocks are background, but
    the objects' noise is over twice the background's; the automatic model must see it."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:256, :256]
    photons = np.full((256, 256), 1.0)
    for _ in range(3):  # about 1% of the field
        cy, cx, r = rng.uniform(20, 236), rng.uniform(20, 236), rng.uniform(4, 8)
        photons[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 30.0
    photons = ndi.gaussian_filter(photons, 1.5)
    frames = 100 + 2.0 * rng.poisson(np.broadcast_to(photons, (4, 256, 256))) \
        + 3.0 * rng.standard_normal((4, 256, 256))
    stack = np.clip(np.rint(frames), 0, 65535).astype(np.uint16)
    est = estimate_noise(stack, axes="TYX", model="auto")
    assert est.model == "poisson-gaussian", est
    assert est.gain == pytest.approx(2.0, rel=0.3)  # sparse bright bins: about 20% low
