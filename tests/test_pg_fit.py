"""The Poisson-Gaussian fit over the whole signal range: 12-bit data, the 3-D sample,
its confidence, and frame differences used when the planes are independent captures."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import data

from napari_denoise._sample_data import cell_phantom, noisy_stack, noisy_timeseries
from napari_denoise.core.noise import estimate_noise
from napari_denoise.core.noise_frames import independent_captures


def _pg_12bit(x, a, b, seed=0):
    rng = np.random.default_rng(seed)
    z = a * rng.poisson(x / a) + rng.normal(0.0, np.sqrt(b), x.shape)
    return np.clip(np.rint(z), 0, 4095).astype(np.uint16)


@pytest.fixture(scope="module")
def camera_12bit():
    # blurred by 1 px: the 8-bit source's own noise and steps, x16, would be read noise
    return gaussian_filter(data.camera().astype(np.float64), 1.0) * (4000 / 255)


@pytest.mark.parametrize("a,b", [(0.5, 100.0), (1.0, 100.0)])
def test_a_and_b_on_12bit_natural_image(camera_12bit, a, b):
    est = estimate_noise(_pg_12bit(camera_12bit, a, b), model="poisson-gaussian")
    assert est.model == "poisson-gaussian"
    assert est.a == pytest.approx(a, rel=0.15)
    assert est.b == pytest.approx(b + 1 / 12, rel=0.15)  # + the rounding's 1/12
    conf = est.confidence
    assert conf["coverage"] > 0.8  # the bins span the image's signal range
    assert conf["rel_a"] < 0.1
    assert "bins cover" in str(est) and "a +-" in str(est)


def test_confidence_says_when_b_cannot_be_measured(camera_12bit):
    # strong shot noise, read variance 4 and no dark area: b is < 1% of every
    # pixel's variance; the fit must say its b is uncertain, while a is pinned down
    x = 500 + camera_12bit * 0.8
    est = estimate_noise(_pg_12bit(x, 8.0, 4.0, seed=1), model="poisson-gaussian")
    assert est.a == pytest.approx(8.0, rel=0.15)
    assert est.confidence["rel_b"] > 0.5
    assert est.confidence["rel_a"] < 0.1


def test_3d_sample_gain_from_the_z_stack():
    # blobs on a large background: the bright blob interiors must be in the fit
    noisy, _, p = noisy_stack()
    est = estimate_noise(noisy, axes="ZYX", model="auto")
    assert est.model == "poisson-gaussian"
    assert est.a == pytest.approx(p["gain"], rel=0.15)
    b_true = p["read_sigma"] ** 2 - p["gain"] * p["offset"]
    assert est.b == pytest.approx(b_true, rel=0.15)
    assert est.confidence["coverage"] > 0.8
    # slices through an object are not captures of one scene
    assert "single planes" in est.source


def test_independent_frames_are_detected_without_axes():
    movie, _, p = noisy_timeseries(n_frames=4)
    est = estimate_noise(movie, model="poisson-gaussian")  # axes guessed: no T named
    assert "frames" in est.source, est.confidence.get("frames")
    assert est.a == pytest.approx(p["gain"], rel=0.15)


def test_detection_rejects_copies_structure_and_drift():
    movie, _, _ = noisy_timeseries(n_frames=3)
    ok, why = independent_captures(list(movie))
    assert ok, why
    ok, why = independent_captures([movie[0]] * 3)
    assert not ok and "identical" in why
    rng = np.random.default_rng(5)
    scene = data.coins().astype(np.float64) * 4
    drift = [rng.poisson(np.roll(scene, 2 * k, axis=1)) for k in range(3)]  # the scene moves
    ok, why = independent_captures(drift)
    assert not ok, why
    zstack, _, _ = noisy_stack()
    assert not independent_captures(list(zstack[4:8]))[0]


def _thin_slices(step=4, photons=30.0, seed=0):
    """One camera volume through a blurred cell (:func:`cell_phantom`, 0.1 um grid)
    sampled every ``step`` planes: neighbouring slices look alike, but the sample
    changes slowly from slice to slice. Gain 2 ADU per photon, offset 100, read noise 3
    (benchmarks/n2n_volume.py's camera)."""
    fine = cell_phantom(seed=seed)
    lam = 1.0 + photons * fine[step // 2::step]
    rng = np.random.default_rng(seed + 1)
    z = 100 + 2.0 * rng.poisson(lam) + 3.0 * rng.standard_normal(lam.shape)
    return np.clip(np.rint(z), 0, 65535).astype(np.uint16)


def test_thin_z_slices_are_not_taken_for_captures_of_one_scene():
    """Differences of 0.4 um slices pass the smooth-block tests, but the sample's slow
    change inflates them where it is bright, where the gain is fitted: read as
    independent captures the gain came out 1.8x too high. The bright blocks are compared
    two planes apart too, and the planes' own fit is used."""
    vol = _thin_slices()
    ok, why = independent_captures(list(vol[8:14]))
    assert not ok and "two apart" in why, why
    est = estimate_noise(vol, axes="ZYX", model="auto")
    assert est.model == "poisson-gaussian" and "single planes" in est.source
    assert est.a == pytest.approx(2.0, rel=0.2)
