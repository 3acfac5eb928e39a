"""Rician (magnitude MRI) noise: napari_denoise.core.rician."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_denoise.core.rician import (
    RicianEstimate,
    add_rician_noise,
    estimate_rician_sigma,
    rician_bias_correct,
    rician_mean,
)

RAYLEIGH_MEAN = math.sqrt(math.pi / 2.0)


def phantom(n: int = 256) -> np.ndarray:
    """MRI-like amplitude: nested ellipses of 0.3-1.0 on a zero background (~half the image)."""
    yy, xx = np.mgrid[:n, :n] / n
    a = np.zeros((n, n))

    def ellipse(cy, cx, ry, rx, value):
        a[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0] = value

    ellipse(0.50, 0.50, 0.42, 0.36, 0.6)
    ellipse(0.40, 0.40, 0.12, 0.08, 1.0)
    ellipse(0.60, 0.60, 0.10, 0.12, 0.3)
    ellipse(0.30, 0.62, 0.06, 0.06, 0.85)
    ellipse(0.70, 0.38, 0.08, 0.05, 0.45)
    return a


# --------------------------------------------------------------------------
# E[M] and its inverse
# --------------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 2.0, 5.0])
def test_rician_mean_matches_monte_carlo(t):
    sigma = 0.7
    rng = np.random.default_rng(int(10 * t) + 1)
    samples = add_rician_noise(np.full(400_000, t * sigma), sigma, rng)
    expected = float(rician_mean(t * sigma, sigma))
    assert samples.mean() == pytest.approx(expected, rel=0.01)
    # and the second moment of a Rician variable is A^2 + 2 sigma^2
    assert np.mean(samples**2) == pytest.approx((t * sigma) ** 2 + 2 * sigma**2, rel=0.01)


def test_rician_mean_limits():
    sigma = 2.0
    assert float(rician_mean(0.0, sigma)) == pytest.approx(sigma * RAYLEIGH_MEAN, rel=1e-12)
    big = np.array([20.0, 100.0, 1e4]) * sigma
    np.testing.assert_allclose(rician_mean(big, sigma), np.sqrt(big**2 + sigma**2), rtol=1e-4)
    a = np.linspace(0, 30, 301)
    m = rician_mean(a, sigma)
    assert np.all(np.diff(m) > 0), "E[M] must increase with A"
    assert np.all(m >= a) and np.all(np.isfinite(m))
    np.testing.assert_array_equal(rician_mean(a, 0.0), a)
    assert rician_mean(a.astype(np.float32), sigma).dtype == np.float32


def test_bias_correct_inverts_rician_mean():
    sigma = 0.3
    t = np.concatenate([np.linspace(0.5, 60.0, 20_000), [100.0, 1e3]])
    a = t * sigma
    back = rician_bias_correct(rician_mean(a, sigma), sigma)
    np.testing.assert_allclose(back, a, rtol=1e-3)
    # tighter than required: the Newton refinement makes it essentially exact
    assert np.max(np.abs(back - a) / a) < 1e-6
    # 2D input keeps its shape
    assert rician_bias_correct(np.ones((4, 5)), sigma).shape == (4, 5)


def test_bias_correct_is_zero_below_the_rayleigh_mean():
    sigma = 1.5
    d = np.array([-1.0, 0.0, 0.5, 1.0, sigma * RAYLEIGH_MEAN * 0.999, sigma * RAYLEIGH_MEAN])
    np.testing.assert_array_equal(rician_bias_correct(d, sigma), np.zeros_like(d))
    just_above = rician_bias_correct(np.array([sigma * RAYLEIGH_MEAN * 1.001]), sigma)
    assert 0.0 < just_above[0] < 0.2 * sigma
    with pytest.raises(ValueError, match="sigma"):
        rician_bias_correct(d, -1.0)


def test_add_rician_noise_is_reproducible_and_non_negative():
    a = phantom(64)
    m1 = add_rician_noise(a, 0.1, np.random.default_rng(3))
    m2 = add_rician_noise(a, 0.1, np.random.default_rng(3))
    np.testing.assert_array_equal(m1, m2)
    assert m1.shape == a.shape and np.all(m1 >= 0)
    # background is Rayleigh: ML estimate recovers sigma
    bg = m1[a == 0]
    assert math.sqrt(np.mean(bg**2) / 2) == pytest.approx(0.1, rel=0.05)


# --------------------------------------------------------------------------
# sigma from the background
# --------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.05, 0.1])
@pytest.mark.parametrize("seed", [0, 1])
def test_automatic_sigma_on_phantom(sigma, seed):
    a = phantom()
    m = add_rician_noise(a, sigma, np.random.default_rng(seed))
    est = estimate_rician_sigma(m)
    assert isinstance(est, RicianEstimate)
    assert est.method == "background-auto", est.message
    assert est.sigma == pytest.approx(sigma, rel=0.10), est.message
    assert 0.2 < est.background_fraction <= (a == 0).mean() + 1e-9
    assert est.message


@pytest.mark.parametrize("sigma", [0.05, 0.1])
def test_sigma_with_background_mask(sigma):
    a = phantom()
    m = add_rician_noise(a, sigma, np.random.default_rng(42))
    est = estimate_rician_sigma(m, background=(a == 0))
    assert est.method == "background-mask"
    assert est.sigma == pytest.approx(sigma, rel=0.10)
    assert est.background_fraction == pytest.approx((a == 0).mean())


def test_automatic_sigma_on_integer_data_with_zero_fill():
    a = phantom() * 1000.0
    m = np.rint(add_rician_noise(a, 20.0, np.random.default_rng(5))).astype(np.uint16)
    m[:, :30] = 0  # zero-filled border outside the field of view
    est = estimate_rician_sigma(m)
    assert est.method == "background-auto"
    assert est.sigma == pytest.approx(20.0, rel=0.10)


def test_stack_uses_median_of_planes_and_ignores_empty_slices():
    rng = np.random.default_rng(8)
    base = phantom(128)
    planes = [add_rician_noise(base * k, 0.08, rng) for k in (0.5, 1.0, 1.5)]
    stack = np.stack([np.zeros((128, 128))] + planes)
    est = estimate_rician_sigma(stack)
    assert est.method == "background-auto"
    assert est.sigma == pytest.approx(0.08, rel=0.10)
    assert len(est.per_plane) == 3


def test_no_background_falls_back_to_gaussian():
    bright = 0.5 + 0.3 * phantom()  # no dark region anywhere
    m = add_rician_noise(bright, 0.05, np.random.default_rng(9))
    est = estimate_rician_sigma(m)
    assert est.method == "fallback-gaussian"
    assert "background" in est.message and est.message
    assert est.background_fraction == 0.0
    # bright regions: Rician ~ Gaussian, so the fallback is still about right
    assert est.sigma == pytest.approx(0.05, rel=0.2)


def test_constant_image_gives_zero():
    est = estimate_rician_sigma(np.full((32, 32), 3.0))
    assert est.sigma == 0.0 and est.message


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.ones(100), "at least 2 dimensions"),
        (np.ones((32, 32), complex), "complex"),
        (np.full((32, 32), np.nan), "NaN"),
        (-np.abs(np.random.default_rng(0).normal(size=(32, 32))), "negative"),
        (np.ones((4, 32)), "too small"),
        (np.array([["x"] * 16] * 16), "dtype"),
    ],
)
def test_bad_input_raises(bad, match):
    with pytest.raises(ValueError, match=match) as info:
        estimate_rician_sigma(bad)
    assert "\n" not in str(info.value)


def test_bad_background_mask_raises():
    img = np.ones((32, 32))
    with pytest.raises(ValueError, match="boolean"):
        estimate_rician_sigma(img, background=np.ones((32, 32)))
    with pytest.raises(ValueError, match="shape"):
        estimate_rician_sigma(img, background=np.ones((16, 16), bool))
    with pytest.raises(ValueError, match="pixels"):
        estimate_rician_sigma(img, background=np.zeros((32, 32), bool))


# --------------------------------------------------------------------------
# bias correction on an averaged low-SNR phantom
# --------------------------------------------------------------------------


def test_bias_correction_removes_upward_bias_in_dark_regions():
    sigma = 0.1
    n = 96
    yy, xx = np.mgrid[:n, :n]
    a = np.zeros((n, n))
    # dark regions at A/sigma = 0.5, 1, 2 next to a bright one, on a zero background
    a[10:40, 10:40] = 0.05
    a[10:40, 56:86] = 0.10
    a[56:86, 10:40] = 0.20
    a[56:86, 56:86] = 0.80
    rng = np.random.default_rng(17)
    reps = 64
    mean_mag = np.zeros((n, n))
    for _ in range(reps):
        mean_mag += add_rician_noise(a, sigma, rng)
    mean_mag /= reps  # an estimate of E[M], as a good denoiser would give

    corrected = rician_bias_correct(mean_mag, sigma)
    dark = a <= 2 * sigma
    err_raw = np.abs(mean_mag - a)[dark].mean()
    err_cor = np.abs(corrected - a)[dark].mean()
    assert err_cor < err_raw / 3.0, f"corrected error {err_cor:.4f} vs uncorrected {err_raw:.4f}"
    # per region, the signed bias shrinks too
    for value in (0.0, 0.05, 0.10, 0.20):
        region = a == value
        bias_raw = (mean_mag - a)[region].mean()
        bias_cor = (corrected - a)[region].mean()
        assert bias_raw > 0.02  # the magnitude is biased upwards
        assert abs(bias_cor) < bias_raw / 3.0, (value, bias_raw, bias_cor)
    # the bright region is left almost as it is
    bright = a == 0.80
    assert np.abs(corrected - mean_mag)[bright].mean() < 0.01
    # with the exact E[M] the correction is exact
    exact = rician_bias_correct(rician_mean(a, sigma), sigma)
    np.testing.assert_allclose(exact[a > 0], a[a > 0], rtol=1e-6)


def test_colour_magnitude_images_are_read_as_yxc_not_as_planes_of_three_columns():
    """YXC data: each channel's Y, X plane is estimated (the old rule took the last two
    axes as Y, X and saw 3-pixel-wide planes)."""
    rng = np.random.default_rng(8)
    a = phantom(128)
    rgb = np.stack([add_rician_noise(a, 0.05, rng) for _ in range(3)], axis=-1)
    est = estimate_rician_sigma(rgb)
    assert est.method == "background-auto"
    assert est.sigma == pytest.approx(0.05, rel=0.1)
    same = estimate_rician_sigma(np.ascontiguousarray(np.moveaxis(rgb, -1, 0)), axes="CYX")
    assert same.sigma == pytest.approx(est.sigma, rel=1e-6)
