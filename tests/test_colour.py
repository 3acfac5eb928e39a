"""RGB photos with single-channel denoisers run in an opponent colour space; microscopy
channels never do."""

import numpy as np
import pytest
from skimage import data

import napari_denoise as nd
from napari_denoise.core.colour import OPPONENT, OpponentDenoiser, opponent
from napari_denoise.core.errors import DenoiseError
from napari_denoise.core.inference import denoise_iter, run_to_end
from napari_denoise.core.models import Denoiser


def _psnr(x, ref):
    return 10 * np.log10(1.0 / np.mean((np.clip(x, 0, 1) - ref) ** 2))


@pytest.fixture(scope="module")
def photo():
    clean = data.astronaut()[120:248, 160:288].astype(np.float64) / 255
    rng = np.random.default_rng(0)
    return clean, (clean + rng.normal(0, 25 / 255, clean.shape)).astype(np.float32)


def test_the_transform_is_orthonormal():
    assert np.allclose(OPPONENT @ OPPONENT.T, np.eye(3), atol=1e-12)


def test_an_identity_denoiser_comes_back_unchanged():
    seen = []

    def ident(ch, s):
        seen.append((float(ch.min()), float(ch.max()), s))
        return ch

    inner = Denoiser(name="id", kind="classical", dims=(2,), in_channels=1, needs_sigma=True,
                     takes_map=False, rf_radius=0, size_multiple=1, bytes_per_pixel=8.0,
                     impl=ident)
    x = np.random.default_rng(1).random((3, 20, 30)).astype(np.float32)
    out = opponent(inner).run(x, None, 0.1)
    assert np.allclose(out, x, atol=1e-6)
    # every opponent channel is shown to the denoiser within [0, 1], its noise level scaled
    assert all(0.0 <= lo and hi <= 1.0 for lo, hi, _ in seen)
    sigmas = [s for _, _, s in seen]
    assert sigmas == pytest.approx([0.1 / np.sqrt(3), 0.1 / np.sqrt(2), 0.1 / (4 / np.sqrt(6))])


def test_opponent_beats_channel_by_channel_on_a_colour_photo(photo):
    clean, noisy = photo
    opp = run_to_end(denoise_iter(noisy, "tv", sigma=25 / 255, data_range=(0, 1)))
    rgb = run_to_end(denoise_iter(noisy, "tv", sigma=25 / 255, data_range=(0, 1),
                                  colour_space="rgb"))
    assert opp.info.colour_space == "opponent" and rgb.info.colour_space is None
    assert _psnr(opp.image, clean) > _psnr(rgb.image, clean) + 0.5


def test_uint8_rgba_keeps_dtype_and_alpha(photo):
    clean, _ = photo
    rng = np.random.default_rng(2)
    rgb = np.clip(clean * 255 + rng.normal(0, 20, clean.shape), 0, 255)
    alpha = np.full(clean.shape[:2] + (1,), 200.0)
    img = np.concatenate([rgb, alpha], -1).round().astype(np.uint8)
    res = run_to_end(denoise_iter(img, "ffdnet_gray", sigma=20))
    assert res.image.dtype == np.uint8 and res.info.colour_space == "opponent"
    assert np.array_equal(res.image[..., 3], img[..., 3])


def test_microscopy_channels_stay_apart(photo):
    _, noisy = photo
    stains = np.ascontiguousarray(np.moveaxis(noisy, -1, 0))  # CYX: three stains
    a = run_to_end(denoise_iter(stains, "tv", sigma=0.1, axes="CYX", data_range=(0, 1)))
    b = run_to_end(denoise_iter(stains, "tv", sigma=0.1, axes="CYX", data_range=(0, 1),
                                colour_space="rgb"))
    assert a.info.colour_space is None and np.array_equal(a.image, b.image)


def test_bad_colour_space_is_one_line(photo):
    with pytest.raises(DenoiseError, match="colour_space") as info:
        nd.denoise(photo[1], "tv", sigma=0.1, colour_space="lab")
    assert "\n" not in str(info.value)


def test_wrapper_keeps_the_denoisers_name_and_takes_three_channels():
    from napari_denoise.core.models import resolve_denoiser

    w = opponent(resolve_denoiser("tv"))
    assert isinstance(w, OpponentDenoiser) and w.in_channels == 3 and w.name == "tv"
