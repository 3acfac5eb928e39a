"""Never make the user's data worse: value ranges, output bounds, the residual guard,
honest limits, safe outputs and axes guesses (issue: never make data worse)."""

import numpy as np
import pytest
import tifffile
import torch

import napari_denoise as nd
from napari_denoise.cli import main, to_flags
from napari_denoise.core.errors import DenoiseError
from napari_denoise.core.inference import denoise_iter, run_to_end
from napari_denoise.core.normalise import bit_depth_max, estimate_range
from napari_denoise.io import read_image, write_image


def _psnr(ref, x):
    r = float(ref.max() - ref.min())
    return 10 * np.log10(r * r / np.mean((ref.astype(np.float64) - x) ** 2))


def _smooth_scene(rng, shape=(128, 128)):
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape)
    img = 0.5 + 0.3 * np.sin(6 * x) * np.cos(4 * y) + 0.2 * (x > 0.5)
    return np.clip(img, 0, 1)


class Shift(torch.nn.Module):
    """A bad 'denoiser': adds -0.5 or scales, to push results outside the data's range."""
    dims, in_channels, takes_noise_map, rf_radius, size_multiple = 2, 1, False, 0, 1

    def __init__(self, scale=1.0, offset=0.0):
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x, s=None):
        return x * self.scale + self.offset


# -- range ----------------------------------------------------------------------------

def test_small_range_float_is_improved_not_harmed(rng):
    """The LDCT case in miniature: float data in [0, 0.05] with known noise."""
    clean = (_smooth_scene(rng) * 0.05).astype(np.float32)
    noisy = (clean + rng.normal(0, 0.002, clean.shape)).clip(0, None).astype(np.float32)
    res = run_to_end(denoise_iter(noisy))
    out = res.image
    assert out.dtype == np.float32 and out.min() >= 0
    assert _psnr(clean, out) > _psnr(clean, noisy) + 3
    lo, hi = res.info["range"]
    assert hi < 0.06  # normalised by the data's own range, not [0, 1]
    assert res.info["warnings"] == []


def test_float_range_is_the_data_not_unit_interval(rng):
    img = rng.random((64, 64)).astype(np.float32) * 0.01 + 0.2
    lo, hi = estimate_range(img)
    assert 0.2 <= lo < 0.2005 and 0.2095 < hi <= 0.21


def test_uint8_photos_keep_0_255_but_dark_8bit_data_are_stretched(rng):
    photo = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    assert estimate_range(photo) == (0.0, 255.0)
    dark = rng.integers(3, 20, (64, 64), dtype=np.uint8)
    lo, hi = estimate_range(dark)
    assert lo >= 3 and hi <= 19


def test_12_bit_data_never_exceed_4095(rng):
    img = rng.integers(0, 4096, (48, 48)).astype(np.uint16)
    out = nd.denoise(img, Shift(scale=3.0), device="cpu")
    assert out.dtype == np.uint16 and out.max() <= img.max() <= 4095
    import dask.array as da
    big = np.zeros((3, 1200, 1200), np.uint16)  # over the sample: bounds from the bit depth
    big[:, :48, :48] = img
    lazy = da.from_array(big, chunks=(1, 1200, 1200))
    out = nd.denoise(lazy, Shift(scale=3.0), axes="ZYX", device="cpu", tile=512)
    assert out.max() <= 4095
    assert bit_depth_max(3000) == 4095 and bit_depth_max(4096) == 16383


def test_non_negative_input_gives_non_negative_output(rng):
    img = rng.random((40, 40)).astype(np.float32) * 0.05
    out = nd.denoise(img, Shift(offset=-0.5), device="cpu")
    assert out.min() >= 0
    signed = img - 0.02
    out = nd.denoise(signed, Shift(offset=-0.5), device="cpu")
    assert out.min() >= signed.min() - 1e-7  # never below the input's own minimum


def test_input_is_never_modified(rng):
    img = (rng.random((40, 40)) * 1000).astype(np.float32)
    before = img.copy()
    nd.denoise(img, "tv")
    np.testing.assert_array_equal(img, before)


# -- the residual guard -----------------------------------------------------------------

def test_guard_warns_when_far_more_than_noise_is_removed(rng):
    clean = (_smooth_scene(rng) * 0.05).astype(np.float32)
    noisy = (clean + rng.normal(0, 0.002, clean.shape)).astype(np.float32)
    # the old failure: small-range float data taken to span [0, 1]; a constant output
    res = run_to_end(denoise_iter(noisy, Shift(scale=0.0, offset=0.5), device="cpu",
                                  data_range=(0, 1)))
    assert any("more than noise" in w for w in res.info["warnings"])
    # the same data through the default: no warning
    assert run_to_end(denoise_iter(noisy)).info["warnings"] == []


def test_guard_warns_when_edges_are_removed(rng):
    img = (_smooth_scene(rng) * 200).astype(np.float32)
    img[::16] += 40  # sharp lines
    noisy = img + rng.normal(0, 5, img.shape).astype(np.float32)
    res = run_to_end(denoise_iter(noisy, "tv", sigma=60))
    assert any("edges" in w or "more than noise" in w for w in res.info["warnings"])


# -- honest limits ----------------------------------------------------------------------

def test_sigma_outside_trained_range_warns_and_nonsense_is_refused(rng):
    img = (rng.random((64, 64)) * 255).astype(np.uint8)
    res = run_to_end(denoise_iter(img, "ffdnet_gray", sigma=100))
    assert any("75" in w and "1.3x" in w for w in res.info["warnings"])
    assert run_to_end(denoise_iter(img, "ffdnet_gray", sigma=20)).info["warnings"] == []
    with pytest.raises(DenoiseError, match="larger than the data's whole range"):
        nd.denoise(img, "ffdnet_gray", sigma=1e6)


def test_cli_sigma_nonsense_is_one_line_and_aliases_are_named(tmp_path, capsys, rng):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, (rng.random((48, 48)) * 255).astype(np.uint8))
    rc = main(["denoise", str(src), "-o", str(tmp_path / "o.tif"), "--sigma", "1e6"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "whole range" in err[0]
    assert not (tmp_path / "o.tif").exists()
    rc = main(["denoise", str(src), "-o", str(tmp_path / "o.tif"), "--model", "ffdnet"])
    err = capsys.readouterr().err
    assert rc == 0 and "'ffdnet' is an alias of 'ffdnet_gray'" in err
    main(["models"])
    assert "ffdnet = ffdnet_gray" in capsys.readouterr().out


def test_model_help_says_what_auto_picks(capsys):
    with pytest.raises(SystemExit):
        from napari_denoise.cli import build_parser

        build_parser().parse_args(["denoise", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    from napari_denoise.core.models import DEFAULT_MODEL
    from napari_denoise.core.noise_plan import POISSON_MODEL

    assert f"{POISSON_MODEL} for single-channel data" in out and "ffdnet = ffdnet_gray" in out
    assert f"{DEFAULT_MODEL} otherwise" in out
    # retired names are listed with what they now run
    assert "ffdnet_microscopy = drunet_microscopy" in out


def test_models_listing_shows_no_repository_paths(capsys):
    main(["models"])
    out = capsys.readouterr().out
    for ref in ("BENCHMARK.md", "BENCHMARKS.md", "benchmarks/", "recipes/", "../shared"):
        assert ref not in out


# -- outputs ----------------------------------------------------------------------------

def test_output_never_overwrites_input(tmp_path, capsys, rng):
    src = tmp_path / "raw.tif"
    raw = (rng.random((48, 48)) * 255).astype(np.uint8)
    tifffile.imwrite(src, raw)
    before = src.read_bytes()
    for extra in ([], ["--overwrite"]):
        rc = main(["denoise", str(src), "-o", str(src), "-m", "tv"] + extra)
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "input" in err[0]
        assert src.read_bytes() == before


def test_existing_foreign_file_needs_overwrite_but_own_result_is_replaced(tmp_path, capsys, rng):
    src, dst = tmp_path / "raw.tif", tmp_path / "other.tif"
    tifffile.imwrite(src, (rng.random((48, 48)) * 255).astype(np.uint8))
    tifffile.imwrite(dst, np.zeros((8, 8), np.uint8))  # somebody else's file
    before = dst.read_bytes()
    assert main(["denoise", str(src), "-o", str(dst), "-m", "tv"]) == 2
    assert "--overwrite" in capsys.readouterr().err and dst.read_bytes() == before
    assert main(["denoise", str(src), "-o", str(dst), "-m", "tv", "--overwrite"]) == 0
    assert tifffile.imread(dst).shape == (48, 48)
    # our own earlier result is replaced without --overwrite
    assert main(["denoise", str(src), "-o", str(dst), "-m", "nlm"]) == 0


def test_tiff_without_pixel_size_gets_none_not_inches(tmp_path):
    write_image(tmp_path / "a.tif", np.zeros((8, 8), np.uint16))
    tifffile.imwrite(tmp_path / "inch.tif", np.zeros((8, 8), np.uint16), resolution=(1, 1),
                     resolutionunit="INCH")
    data, meta = read_image(tmp_path / "inch.tif")
    assert meta.pixel_size == {} and meta.unit is None
    write_image(tmp_path / "b.tif", data, meta)
    for name in ("a.tif", "b.tif"):
        with tifffile.TiffFile(tmp_path / name) as tf:
            assert int(tf.pages[0].resolutionunit) == 1  # NONE: no physical size


# -- axes ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape,axes", [((4, 32, 32), "ZYX"), ((3, 32, 32), "ZYX"),
                                        ((5, 4, 3, 32, 32), "TZCYX"), ((32, 32, 3), "YXC")])
def test_plain_tiff_axes_guesses(tmp_path, shape, axes):
    tifffile.imwrite(tmp_path / "s.tif", np.zeros(shape, np.uint8))
    assert read_image(tmp_path / "s.tif")[1].axes == axes


def test_xy_ordered_data_are_accepted_and_come_back_in_order(rng):
    img = (_smooth_scene(rng, (40, 56)) * 255).astype(np.uint8)
    ref = nd.denoise(img, "tv", sigma=10)
    out = nd.denoise(np.ascontiguousarray(img.T), "tv", sigma=10, axes="XY")
    assert out.shape == img.T.shape
    np.testing.assert_array_equal(out, ref.T)


def test_cli_messages_use_flags_not_python_syntax(tmp_path, capsys, rng):
    assert to_flags("use pairs='subsample' or give target=") == "use --pairs subsample or give --target"
    src = tmp_path / "one.tif"
    tifffile.imwrite(src, (rng.random((48, 48)) * 255).astype(np.uint8))
    rc = main(["train", str(src), "--pairs", "neighbors", "--steps", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "--pairs subsample" in err and "pairs='" not in err and "target=" not in err


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
def test_wide_integers_at_the_top_of_their_range_do_not_wrap(rng, dtype):
    """Found by the long property run: int32 data reaching 2**31 - 1 came back with
    -2**31 (float32 rounds the maximum up, and the cast wrapped round)."""
    top = np.iinfo(dtype).max
    img = rng.integers(top // 2, top, (2, 9, 18), dtype=np.int64).astype(dtype)
    img[0, 0, 0] = top
    # a result above the input's maximum is clipped to it: 2**31 - 1 must stay itself
    out = nd.denoise(img, Shift(scale=1.5), axes="CYX", device="cpu")
    assert out.dtype == img.dtype
    assert out.min() >= 0 and out.max() == top
    out = nd.denoise(img, "nlm", axes="CYX")
    assert out.min() >= 0 and out.max() <= top


def test_a_denoiser_that_returns_nan_is_a_clear_error_not_garbage(rng):
    class Broken(torch.nn.Module):
        dims, in_channels, takes_noise_map, rf_radius, size_multiple = 2, 1, False, 0, 1

        def forward(self, x, s=None):
            return x * float("nan")

    img = (rng.random((32, 32)) * 1000).astype(np.uint16)
    with pytest.raises(DenoiseError, match="invalid values"):
        nd.denoise(img, Broken(), device="cpu")


def test_guard_own_estimate_is_close_to_the_full_estimator(rng):
    """The guard estimates a user-given sigma's truth from fewer patches (speed): it must
    still land within a few percent of the full estimator, at low and high noise."""
    from napari_denoise.core.guard import ResidualGuard
    from napari_denoise.core.noise import estimate_noise

    scene = (_smooth_scene(rng, (256, 256)) * 200).astype(np.float32)
    for sigma in (2.0, 10.0, 40.0):
        noisy = scene + rng.normal(0, sigma, scene.shape).astype(np.float32)
        full = estimate_noise(noisy).sigma
        assert ResidualGuard._estimate(noisy) == pytest.approx(full, rel=0.03)
        assert full == pytest.approx(sigma, rel=0.1)
