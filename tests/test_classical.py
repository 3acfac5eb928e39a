"""Classical denoisers (napari_denoise.core.classical) on skimage images and synthetic volumes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import data
from skimage.metrics import peak_signal_noise_ratio as psnr

from napari_denoise.core.classical import CLASSICAL, ClassicalDenoiser, get_classical

SIGMA = 25.0 / 255.0


@pytest.fixture(scope="module")
def camera_pair():
    clean = (data.camera()[100:228, 200:328] / 255.0).astype(np.float32)  # 128x128
    rng = np.random.default_rng(0)
    noisy = (clean + rng.normal(0.0, SIGMA, clean.shape)).astype(np.float32)  # unclipped
    return clean, noisy


@pytest.fixture(scope="module")
def volume_pair():
    rng = np.random.default_rng(1)
    blobs = data.binary_blobs(24, blob_size_fraction=0.2, n_dim=3, volume_fraction=0.3, rng=1)
    clean = gaussian_filter(blobs.astype(np.float32), 1.0)
    noisy = (clean + rng.normal(0.0, 0.1, clean.shape)).astype(np.float32)
    return clean, noisy


def test_registry_and_interface():
    assert set(CLASSICAL) == {"bm3d", "nlm", "tv", "wavelet", "nn3d"}
    for name, den in CLASSICAL.items():
        assert isinstance(den, ClassicalDenoiser)
        assert den.name == name
        assert isinstance(den.description, str) and den.description and "\n" not in den.description
        assert isinstance(den.rf_radius, int) and den.rf_radius > 0
        assert 2 in den.dims
        assert get_classical(name) is den
    assert get_classical("BM3D") is CLASSICAL["bm3d"]


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="bm3d, nlm, nn3d, tv, wavelet"):
        get_classical("median")


@pytest.mark.parametrize("name", ["bm3d", "nlm", "tv", "wavelet"])
def test_denoises_camera_sigma25(name, camera_pair):
    clean, noisy = camera_pair
    out = CLASSICAL[name](noisy, SIGMA)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    gain = psnr(clean, out, data_range=1.0) - psnr(clean, noisy, data_range=1.0)
    assert gain >= 5.0, f"{name}: PSNR gain {gain:.2f} dB"
    assert np.array_equal(noisy, camera_pair[1])  # input untouched


@pytest.mark.parametrize("name", ["nlm", "tv", "wavelet"])
def test_3d_volume(name, volume_pair):
    clean, noisy = volume_pair
    den = CLASSICAL[name]
    assert 3 in den.dims
    out = den(noisy, 0.1)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    gain = psnr(clean, out, data_range=1.0) - psnr(clean, noisy, data_range=1.0)
    assert gain >= 2.0, f"{name}: 3D PSNR gain {gain:.2f} dB"


def test_bm3d_rejects_3d(volume_pair):
    with pytest.raises(ValueError, match="2D"):
        CLASSICAL["bm3d"](volume_pair[1], 0.1)


@pytest.mark.parametrize("name", ["bm3d", "nlm", "tv", "wavelet"])
def test_zero_sigma_returns_copy(name):
    x = np.random.default_rng(2).random((16, 16)).astype(np.float32)
    out = CLASSICAL[name](x, 0.0)
    assert out.dtype == np.float32 and np.array_equal(out, x) and out is not x


@pytest.mark.parametrize("name", ["nlm", "tv", "wavelet"])
def test_values_outside_unit_range_not_clipped(name):
    rng = np.random.default_rng(3)
    base = gaussian_filter(rng.random((48, 48)), 4).astype(np.float32)
    x = (base * 0.4 + 1.1 + rng.normal(0.0, 0.05, base.shape)).astype(np.float32)  # all > 1
    out = CLASSICAL[name](x, 0.05)
    assert out.min() > 1.0
    assert abs(float(out.mean()) - float(x.mean())) < 0.02


@pytest.mark.parametrize("name", ["nlm", "tv", "wavelet"])
def test_float64_input_gives_float32(name):
    x = np.random.default_rng(4).random((32, 32))  # float64
    assert CLASSICAL[name](x, 0.1).dtype == np.float32


def test_bad_sigma_and_shapes():
    den = CLASSICAL["tv"]
    with pytest.raises(ValueError, match="sigma"):
        den(np.zeros((16, 16), np.float32), -0.1)
    with pytest.raises(ValueError, match="sigma"):
        den(np.zeros((16, 16), np.float32), float("nan"))
    with pytest.raises(ValueError, match="2D or 3D"):
        den(np.zeros((2, 3, 16, 16), np.float32), 0.1)


def test_block_matching_methods_on_images_smaller_than_their_blocks():
    """Found by the long property run: bm3d raised a bare ValueError below 8 pixels and
    crashed the process (segmentation fault) at exactly 8x8. Small images are now
    mirror-padded first. Run in a subprocess so that a crash fails this test, not pytest."""
    import subprocess
    import sys

    code = """
import numpy as np, napari_denoise as nd
for h, w in [(4, 4), (5, 7), (8, 8), (8, 30), (16, 9)]:
    x = np.random.default_rng(h * w).random((h, w)).astype(np.float32)
    for m in ("bm3d", "nn3d"):
        out = nd.denoise(x, m, sigma=0.1, device="cpu")
        assert out.shape == x.shape and np.all(np.isfinite(out)), (m, h, w)
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]
