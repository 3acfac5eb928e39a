"""The engine's stages and its structured result: the noise plan as data (DenoiseInfo),
the dict view old scripts use, and the Rician estimate handed over as sigma."""

import numpy as np
import pytest

import napari_denoise as nd
from napari_denoise.core.inference import denoise_iter, run_to_end
from napari_denoise.core.info import DenoiseInfo
from napari_denoise.core.rician import add_rician_noise


def _scene(n=96):
    y, x = np.mgrid[:n, :n] / n
    return 0.2 + 0.6 * ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1) + 0.1 * np.sin(8 * x)


def test_rician_estimate_as_sigma_is_used_not_a_shape_error():
    rng = np.random.default_rng(3)
    a = np.zeros((96, 96))
    a[20:76, 20:76] = _scene(56)
    mag = add_rician_noise(a, 0.05, rng).astype(np.float32)
    est = nd.estimate_noise(mag, model="rician")
    res = run_to_end(denoise_iter(mag, "tv", sigma=est, noise="rician"))
    assert res.image.shape == mag.shape
    assert res.info.noise_kind == "rician" and res.info.estimated
    same = run_to_end(denoise_iter(mag, "tv", sigma=float(est.sigma), noise="rician"))
    np.testing.assert_array_equal(res.image, same.image)
    assert not same.info.estimated


@pytest.mark.parametrize("case,kind,transform,estimated", [
    ("gaussian-auto", "gaussian", None, True),
    ("gaussian-given", "gaussian", None, False),
    ("map", "map", None, False),
    ("pg-map", "poisson-gaussian", None, True),
    ("pg-gat", "poisson-gaussian", "gat", True),
    ("blind", "none", None, False),
])
def test_info_says_how_the_noise_reached_the_denoiser(case, kind, transform, estimated):
    rng = np.random.default_rng(0)
    clean = _scene()
    img = (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32)
    kw = {"gaussian-auto": dict(model="ffdnet_gray", noise="gaussian"),
          "gaussian-given": dict(model="ffdnet_gray", sigma=0.05),
          "map": dict(model="ffdnet_gray", sigma=np.full(img.shape, 0.05, np.float32)),
          "pg-map": dict(model="ffdnet_gray", noise="poisson-gaussian"),
          "pg-gat": dict(model="tv", noise="poisson-gaussian"),
          "blind": dict(model="dncnn_blind", noise="gaussian")}[case]
    if case.startswith("pg"):  # a ramp of intensities: the fit sees noise grow with signal
        ramp = 0.05 + 0.9 * np.mgrid[:128, :128][1] / 128
        img = (ramp + rng.normal(0, 1, ramp.shape) * np.sqrt(0.01 * ramp + 1e-4)
               ).astype(np.float32)
    info = run_to_end(denoise_iter(img, kw.pop("model"), **kw)).info
    assert isinstance(info, DenoiseInfo)
    assert (info.noise_kind, info.transform, info.estimated) == (kind, transform, estimated)
    if kind == "gaussian":
        assert info.sigma_value == pytest.approx(0.05, rel=0.25)
    else:
        assert info.sigma_value is None


def test_info_reads_like_the_dict_it_was():
    info = run_to_end(denoise_iter(np.eye(32, dtype=np.float32), "tv", sigma=0.1)).info
    assert info["model"] == info.model == "tv" and info.get("nope", 7) == 7
    d = dict(info)
    assert d["noise_kind"] == "gaussian" and "warnings" in d and "seconds" in info
    info["tiles"] = 5
    assert info.tiles == 5
    with pytest.raises(KeyError):
        info["not_a_field"] = 1
