"""NN3D: a network's estimate as the pilot of BM3D's collaborative Wiener stage."""

import numpy as np
import pytest

import napari_denoise as nd
from napari_denoise.core.nn3d import NN3DDenoiser


def _textured(n=96):
    y, x = np.mgrid[:n, :n]
    # repeated structure (what non-local filtering exploits) plus smooth shading
    return (0.3 + 0.4 * ((x // 6 + y // 6) % 2) + 0.2 * y / n).astype(np.float32)


def _psnr(ref, x):
    return 10 * np.log10(1.0 / np.mean((np.clip(x, 0, 1) - ref) ** 2))


def test_nn3d_keeps_shape_and_beats_its_network_alone():
    clean = _textured()
    noisy = (clean + np.random.default_rng(0).normal(0, 0.1, clean.shape)).astype(np.float32)
    kw = dict(sigma=0.1, data_range=(0, 1), device="cpu")
    cnn = nd.denoise(noisy, "ffdnet_gray", **kw)
    out = nd.denoise(noisy, "nn3d", **kw)
    assert out.shape == noisy.shape and out.dtype == noisy.dtype
    assert _psnr(clean, out) > _psnr(clean, cnn) + 0.2
    assert "nn3d" in {m["name"] for m in nd.list_models()}


def test_nn3d_refuses_a_network_it_cannot_use():
    with pytest.raises(ValueError, match="iterations"):
        NN3DDenoiser(iterations=0)
    with pytest.raises(ValueError, match="single-channel network"):
        NN3DDenoiser(cnn="tv")(np.zeros((32, 32), np.float32) + np.eye(32, dtype=np.float32), 0.1)
