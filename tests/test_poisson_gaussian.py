"""Poisson-Gaussian noise: estimation of (a, b), sigma maps, the GAT and its exact inverse."""

import warnings

import numpy as np
import pytest
from skimage import data

from napari_denoise.core.noise import NoiseEstimate, estimate_noise
from napari_denoise.core.vst import GAT, exact_unbiased_inverse


def _pg(clean, a, b, seed=0):
    rng = np.random.default_rng(seed)
    return a * rng.poisson(clean / a) + rng.normal(0.0, np.sqrt(b), clean.shape)


@pytest.fixture(scope="module")
def camera():
    return data.camera().astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def phantom():
    """Smooth areas over the whole range: a ramp with a few flat disks."""
    yy, xx = np.mgrid[0:384, 0:384] / 383.0
    img = 0.03 + 0.9 * xx
    for cy, cx, r, v in [(0.3, 0.3, 0.12, 0.8), (0.7, 0.6, 0.15, 0.1), (0.5, 0.85, 0.1, 0.5)]:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = v
    return img


@pytest.mark.parametrize("image,a,b", [("phantom", 0.01, 1e-3), ("phantom", 0.003, 4e-4),
                                       ("phantom", 0.001, 1e-3), ("phantom", 0.0003, 1e-4),
                                       ("camera", 0.003, 4e-4)])  # and a natural image
def test_recovers_known_a_b(request, image, a, b):
    est = estimate_noise(_pg(request.getfixturevalue(image), a, b), model="poisson-gaussian")
    assert est.model == "poisson-gaussian"
    assert est.a == pytest.approx(a, rel=0.10)
    assert est.b == pytest.approx(b, rel=0.10)


def test_shot_noise_dominated_gain_and_dark_variance(camera):
    # b is 1/5 of the variance even in the darkest region: b itself is ill-posed,
    # but the gain and the variance in the dark are recovered
    a, b = 0.01, 1e-4
    est = estimate_noise(_pg(camera, a, b), model="poisson-gaussian")
    assert est.a == pytest.approx(a, rel=0.10)
    dark = np.percentile(camera, 5)
    assert est.variance(dark) == pytest.approx(a * dark + b, rel=0.15)


def test_recovers_a_b_in_data_units_uint16(camera):
    # a 12-bit camera: gain 2 ADU per photon, read noise 6 ADU, black level 100
    rng = np.random.default_rng(3)
    photons = rng.poisson(camera * 900)
    img = np.clip(100 + 2 * photons + rng.normal(0, 6, camera.shape), 0, 4095).round().astype(np.uint16)
    est = estimate_noise(img, model="poisson-gaussian")
    # variance = 2 * (x - 100) + 36 = 2 x - 164
    assert est.a == pytest.approx(2.0, rel=0.10)
    assert est.b == pytest.approx(-164.0, abs=0.15 * 164 + 20)


def test_auto_picks_the_model(camera):
    rng = np.random.default_rng(1)
    gauss = camera + rng.normal(0, 0.05, camera.shape)
    assert estimate_noise(gauss, model="auto").model == "gaussian"
    pg = _pg(camera, 0.02, 1e-4)
    assert estimate_noise(pg, model="auto").model == "poisson-gaussian"


def test_clipped_gaussian_is_not_taken_for_poisson(camera):
    # uint8 with Gaussian noise clips at 0 and 255: variance drops there, but
    # clipped blocks are left out of the fit
    rng = np.random.default_rng(2)
    img = np.clip(camera * 255 + rng.normal(0, 20, camera.shape), 0, 255).round().astype(np.uint8)
    est = estimate_noise(img, model="auto")
    assert est.model == "gaussian"


def test_frames_of_a_static_stack(camera):
    a, b = 0.01, 2e-4
    stack = np.stack([_pg(camera, a, b, seed=s) for s in range(4)])
    est = estimate_noise(stack, axes="TYX", model="poisson-gaussian")
    assert "frames" in est.source
    assert est.a == pytest.approx(a, rel=0.10)
    assert est.b == pytest.approx(b, rel=0.15)
    # single planes: same answer within tolerance
    est2 = estimate_noise(stack, axes="TYX", model="poisson-gaussian", frames=False)
    assert "single planes" in est2.source
    assert est2.a == pytest.approx(a, rel=0.10)


def test_sigma_map_shape_positive_and_signal_dependent(camera):
    z = _pg(camera, 0.01, 1e-4)
    est = estimate_noise(z, model="poisson-gaussian")
    m = est.sigma_map(z)
    assert m.shape == z.shape and m.dtype == np.float32
    assert np.all(m > 0)
    bright, dark = camera > 0.7, camera < 0.1
    assert m[bright].mean() > 2 * m[dark].mean()
    # close to the true std where the signal is smooth
    true = np.sqrt(0.01 * camera + 1e-4)
    assert np.median(np.abs(m - true) / true) < 0.15
    assert np.allclose(est.sigma_map(z, strength=2.0), 2 * m, rtol=1e-5)
    # stacks: the map has the stack's shape
    st = np.stack([z, z])
    assert est.sigma_map(st).shape == st.shape


def test_noise_estimate_pedestal_and_gaussian():
    e = NoiseEstimate.poisson_gaussian(2.0, -50.0)
    assert e.a == 2.0 and e.b == pytest.approx(-50.0)
    assert e.variance(25.0) == pytest.approx(0.0)
    assert e.variance(125.0) == pytest.approx(200.0)
    g = NoiseEstimate.poisson_gaussian(0.0, 4.0)
    assert g.model == "gaussian" and g.sigma == 2.0
    with pytest.raises(ValueError):
        NoiseEstimate.poisson_gaussian(-1.0, 0.0)


def test_constant_image_gives_message_and_fallback():
    est = estimate_noise(np.full((64, 64), 7.0), model="poisson-gaussian")
    assert est.model == "gaussian" and est.sigma == 0.0
    assert "constant" in est.message


def test_too_little_smooth_area_falls_back_with_a_message():
    rng = np.random.default_rng(0)
    small = rng.poisson(20, (40, 40)).astype(float)  # 16 blocks only
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        est = estimate_noise(small, model="poisson-gaussian")
    assert est.model == "gaussian" and est.sigma > 0
    assert "too few" in est.message
    assert any("too few" in str(x.message) for x in w)


# -- GAT -------------------------------------------------------------------

@pytest.mark.parametrize("lam", [0.5, 1.0, 2.0, 5.0, 30.0])
def test_gat_exact_inverse_is_unbiased_on_poisson(lam):
    rng = np.random.default_rng(7)
    z = rng.poisson(lam, 4_000_000).astype(np.float64)
    g = GAT(1.0, 0.0)
    d = g.forward(z).mean()  # what an ideal denoiser returns
    assert g.inverse(np.array([d]))[0] == pytest.approx(lam, rel=0.01)
    if lam <= 2:  # the algebraic inverse is badly biased at low counts
        assert abs(g.inverse_algebraic(np.array([d]))[0] / lam - 1) > 0.1


def test_gat_stabilises_variance_and_inverts_with_read_noise():
    rng = np.random.default_rng(8)
    a, b = 0.01, 4e-4
    g = GAT(a, b)
    for x in (0.02, 0.1, 0.5):
        z = a * rng.poisson(x / a, 1_000_000) + rng.normal(0, np.sqrt(b), 1_000_000)
        f = g.forward(z)
        assert f.std() == pytest.approx(1.0, abs=0.06)
        assert g.inverse(np.array([f.mean()]))[0] == pytest.approx(x, rel=0.01)


def test_gat_inverse_monotone_and_continuous_at_the_table_end():
    d = np.linspace(0, 80, 4001)  # the table ends near d = 63 (p = 1000)
    p = exact_unbiased_inverse(d, 0.3)
    assert np.all(np.diff(p) >= 0)
    assert np.all(p >= 0)
    # dp/dd is about d/2: no jump anywhere, in particular where the closed form takes over
    step = np.diff(p)
    assert np.all(step <= (d[1:] / 2 + 0.5) * (d[1] - d[0]) * 1.05)


def test_gat_rejects_bad_parameters():
    with pytest.raises(ValueError, match="positive gain"):
        GAT(0.0, 1.0)
