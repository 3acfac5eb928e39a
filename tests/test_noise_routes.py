"""denoise(noise=..., strength=..., destripe=...): the noise model reaches the denoiser."""

import numpy as np
import pytest
from skimage import data

import napari_denoise as nd
from napari_denoise.core.inference import denoise_iter, run_to_end
from napari_denoise.core.noise import NoiseEstimate
from napari_denoise.core.rician import add_rician_noise


@pytest.fixture(scope="module")
def clean():
    return data.camera()[128:384, 128:384].astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def pg(clean):
    rng = np.random.default_rng(0)
    a, b = 0.02, 1e-4
    return (a * rng.poisson(clean / a) + rng.normal(0, np.sqrt(b), clean.shape)).astype(np.float32)


def _psnr(x, ref):
    return 10 * np.log10(1.0 / np.mean((np.clip(x, 0, 1) - ref) ** 2))


def _run(img, model, **kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("data_range", (0.0, 1.0))
    return run_to_end(denoise_iter(img, model, **kw))


def test_poisson_gaussian_map_beats_one_estimated_sigma(clean, pg):
    one = _run(pg, "ffdnet_gray", noise="gaussian")
    pgm = _run(pg, "ffdnet_gray", noise="poisson-gaussian")
    assert pgm.info.noise_kind == "poisson-gaussian" and pgm.info.transform is None  # the map
    assert _psnr(pgm.image, clean) > _psnr(one.image, clean) + 2.0


def test_gat_route_for_models_without_a_map(clean, pg):
    r = _run(pg, "tv", noise="poisson-gaussian")
    assert r.info.noise_kind == "poisson-gaussian" and r.info.transform == "gat"
    g = _run(pg, "tv", noise="gaussian")
    assert _psnr(r.image, clean) > _psnr(g.image, clean) + 1.0
    # the exact inverse keeps the mean: no low-count bias
    assert abs(float(r.image.mean()) - float(clean.mean())) < 0.01


def test_auto_chooses_the_model_from_the_data(clean, pg):
    rng = np.random.default_rng(1)
    gauss = (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32)
    assert _run(pg, "ffdnet_gray").info.noise_kind == "poisson-gaussian"
    g = _run(gauss, "ffdnet_gray").info
    assert g.noise_kind == "gaussian" and g.estimated and g.sigma_value == pytest.approx(0.05, rel=0.2)


def test_model_auto_uses_the_poisson_model_when_shipped(pg):
    from napari_denoise.core.models import DEFAULT_MODEL
    from napari_denoise.core.noise_plan import POISSON_MODEL
    from napari_denoise.core.registry import pretrained_entries

    assert {DEFAULT_MODEL, POISSON_MODEL} <= set(pretrained_entries())  # shipped in weights/
    r = _run(pg, "auto")
    assert r.info["model"] == POISSON_MODEL
    rng = np.random.default_rng(2)
    gauss = (data.camera()[:256, :256] / 255.0 + rng.normal(0, 0.05, (256, 256))).astype(np.float32)
    assert _run(gauss, "auto").info["model"] == DEFAULT_MODEL
    # a Poisson-Gaussian fit the caller made (of the whole stack, say) chooses the same
    est = nd.estimate_noise(pg, model="poisson-gaussian")
    assert _run(pg, "auto", sigma=est).info["model"] == POISSON_MODEL
    assert _run(pg, "ffdnet_gray", sigma=est).info["model"] == "ffdnet_gray"  # named: kept
    # colour photos with shot noise keep the natural-image model (with the map)
    rgb = np.stack([pg, pg * 0.8, pg * 0.6], -1)
    r = _run(rgb, "auto")
    assert r.info.model == DEFAULT_MODEL and r.info.noise_kind == "poisson-gaussian"
    assert r.info.transform is None  # the natural-image model takes the map


def test_noise_estimate_object_and_strength(clean, pg):
    est = NoiseEstimate.poisson_gaussian(0.02, 1e-4)
    r1 = _run(pg, "ffdnet_gray", sigma=est)
    r2 = _run(pg, "ffdnet_gray", sigma=est, strength=2.0)
    # more strength smooths more: less high-frequency energy
    hf = lambda x: float(np.mean(np.diff(x, axis=1) ** 2))  # noqa: E731
    assert hf(r2.image) < hf(r1.image)
    s1 = _run(pg, "tv", sigma=0.05)
    s2 = _run(pg, "tv", sigma=0.05, strength=0.5)
    assert s1.info.sigma_value == pytest.approx(2 * s2.info.sigma_value)
    assert hf(s2.image) > hf(s1.image)
    with pytest.raises(nd.DenoiseError, match="strength"):
        _run(pg, "tv", sigma=0.05, strength=0)
    with pytest.raises(nd.DenoiseError, match="noise must be"):
        _run(pg, "tv", noise="speckle")


def test_user_map_times_strength(pg):
    m = np.full(pg.shape, 0.05, np.float32)
    r = _run(pg, "ffdnet_gray", sigma=m, strength=2.0)
    ref = _run(pg, "ffdnet_gray", sigma=np.full(pg.shape, 0.1, np.float32))
    np.testing.assert_allclose(r.image, ref.image, atol=1e-6)


def test_rician_route_corrects_the_bias():
    yy, xx = np.mgrid[0:192, 0:192]
    A = np.zeros((192, 192))
    A[((yy - 96) / 70.0) ** 2 + ((xx - 96) / 50.0) ** 2 < 1] = 0.15
    A[((yy - 96) / 30.0) ** 2 + ((xx - 80) / 20.0) ** 2 < 1] = 0.6
    sigma = 0.05
    M = add_rician_noise(A, sigma, np.random.default_rng(3)).astype(np.float32)
    r = _run(M, "ffdnet_gray", noise="rician")
    g = _run(M, "ffdnet_gray", noise="gaussian", sigma=sigma)
    assert r.info.noise_kind == "rician"
    dark = A == 0.15
    bias_r = abs(float(r.image[dark].mean()) - 0.15)
    bias_g = abs(float(g.image[dark].mean()) - 0.15)
    assert bias_r < 0.5 * bias_g


def test_destripe_in_denoise(clean):
    rng = np.random.default_rng(4)
    striped = (clean + rng.normal(0, 0.02, clean.shape) + rng.normal(0, 0.05, (clean.shape[0], 1))
               ).astype(np.float32)
    before = striped.copy()
    plain = _run(striped, "ffdnet_gray", sigma=0.02)
    fixed = _run(striped, "ffdnet_gray", sigma=0.02, destripe=True)
    assert fixed.info["destripe"] is True
    assert _psnr(fixed.image, clean) > _psnr(plain.image, clean) + 3.0
    row_err = lambda x: float(np.var((x - clean).mean(axis=1)))  # noqa: E731
    assert row_err(fixed.image) < 0.2 * row_err(plain.image)
    assert np.array_equal(striped, before)  # input not modified


def test_uint16_poisson_data_keeps_dtype_and_range():
    rng = np.random.default_rng(5)
    x = data.camera()[:200, :200] / 255.0 * 900
    img = np.clip(100 + 2 * rng.poisson(x) + rng.normal(0, 6, x.shape), 0, 65535).astype(np.uint16)
    before = img.copy()
    out = nd.denoise(img, "tv", noise="poisson-gaussian", device="cpu")
    assert out.dtype == np.uint16 and out.shape == img.shape
    assert np.array_equal(img, before)
    assert abs(float(out.mean()) - float(img.mean())) < 0.02 * float(img.mean())


@pytest.mark.parametrize("noise", ["gaussian", "poisson-gaussian", "auto"])
def test_too_small_to_estimate_is_a_denoise_error(noise):
    # 6x6 is enough to denoise (at least 4x4) but not to estimate the noise (8x8)
    with pytest.raises(nd.DenoiseError, match="too small to estimate"):
        _run(np.random.default_rng(0).random((6, 6)).astype(np.float32), "ffdnet_gray",
             noise=noise)


def test_self_trained_models_run_on_raw_intensities_not_through_the_gat(pg):
    """A model self-trained on the user's raw data learnt that noise as it is: it is not
    run through the Anscombe transform (blind pretrained models are)."""
    trained = nd.train_noise2noise(np.stack([pg, pg[::-1, ::-1]]), pairs="subsample",
                                   steps=2, batch=2, arch_args={"features": 8, "levels": 2},
                                   val_every=2)
    own = _run(pg, trained, noise="poisson-gaussian")
    assert own.info.noise_kind == "poisson-gaussian" and own.info.transform is None
    assert "raw intensities" in own.info.sigma
    blind = _run(pg, "dncnn_blind", noise="poisson-gaussian")
    assert blind.info.transform == "gat"
