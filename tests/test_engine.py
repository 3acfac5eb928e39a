"""The inference engine: axes layouts, dtypes and ranges, tiling, progress, cancel, errors."""

import numpy as np
import pytest
import torch

import napari_denoise as nd
from napari_denoise.core import inference, tiling
from napari_denoise.core.archs import DnCNN, FFDNet, UNet
from napari_denoise.core.inference import DenoiseError, denoise_iter, run_to_end


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DnCNN(depth=4, features=8).eval()


@pytest.fixture(scope="module")
def ffd():
    torch.manual_seed(0)
    m = FFDNet(depth=4, features=16).eval()
    with torch.no_grad():  # an untrained net barely listens to its map: make it listen
        m.body[0].weight[:, 4:] *= 50
    return m


def _img(rng, shape, dtype):
    x = rng.random(shape)
    if np.dtype(dtype).kind in "ui":
        hi = 4000 if np.dtype(dtype).itemsize > 1 else 255
        lo = -500 if np.dtype(dtype).kind == "i" else 0
        return (lo + x * (hi - lo)).astype(dtype)
    return x.astype(dtype)


@pytest.mark.parametrize("axes,shape", [
    ("YX", (40, 50)),
    ("YXC", (40, 50, 3)),
    ("YXC", (40, 50, 4)),
    ("ZYX", (3, 40, 50)),
    ("TYX", (3, 40, 50)),
    ("CYX", (2, 40, 50)),
    ("ZCYX", (3, 2, 40, 50)),
    ("TZCYX", (2, 2, 2, 24, 30)),
])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_shape_and_dtype_round_trip(net, rng, axes, shape, dtype):
    img = _img(rng, shape, dtype)
    before = img.copy()
    out = nd.denoise(img, net, axes=axes, device="cpu")
    assert out.shape == img.shape and out.dtype == img.dtype
    np.testing.assert_array_equal(img, before)  # input untouched
    assert not np.shares_memory(out, img)


def test_planes_are_denoised_independently(net, rng):
    stack = _img(rng, (3, 32, 32), np.float32)
    stack[:, 0, :2] = 0, 1  # every plane spans the stack's range: the same output bounds
    # the same normalisation for both (by default it comes from all the data given)
    out = nd.denoise(stack, net, axes="ZYX", device="cpu", data_range=(0, 1))
    one = nd.denoise(stack[1], net, device="cpu", data_range=(0, 1))
    np.testing.assert_allclose(out[1], one, atol=1e-6)


def test_channels_last_and_first_agree(net, rng):
    """Channel by channel, where the channel axis sits does not matter (by default RGB
    photos go through the opponent colour space: tests/test_colour.py)."""
    rgb = _img(rng, (32, 40, 3), np.float32)
    a = nd.denoise(rgb, net, axes="YXC", device="cpu", colour_space="rgb")
    b = nd.denoise(np.moveaxis(rgb, -1, 0), net, axes="CYX", device="cpu")
    np.testing.assert_allclose(np.moveaxis(b, 0, -1), a, atol=1e-6)


class _Half(torch.nn.Module):
    """A 'denoiser' with a visible, known effect: halves the normalised values."""
    dims, in_channels, takes_noise_map, rf_radius, size_multiple = 2, 1, False, 0, 1

    def forward(self, x, s=None):
        return x * 0.5


def test_rgba_alpha_passes_through(rng):
    rgba = _img(rng, (32, 40, 4), np.uint8)
    # channel by channel, so that the halving is visible as it is
    out = nd.denoise(rgba, _Half(), device="cpu", colour_space="rgb")
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[..., :3], np.rint(rgba[..., :3] * 0.5).astype(np.uint8))


def test_float_outside_unit_range_keeps_its_range(net, rng):
    img = (rng.random((48, 48)) * 1000 - 200).astype(np.float32)
    out = nd.denoise(img, net, device="cpu")
    # a denoiser never turns data in [-200, 800] into [0, 1]
    assert out.min() < -50 and out.max() > 600


def test_integer_output_rounded_and_clipped(rng):
    class Boost(torch.nn.Module):
        dims, in_channels, takes_noise_map, rf_radius, size_multiple = 2, 1, False, 0, 1

        def forward(self, x, s=None):
            return x * 3.0  # pushes values far outside the dtype

    img = _img(rng, (20, 20), np.uint8)
    out = nd.denoise(img, Boost(), device="cpu")
    # never beyond the input's own range (nor the dtype's)
    assert out.dtype == np.uint8 and out.max() == img.max() < 255
    expect = np.clip(np.rint(img.astype(np.float64) * 3), 0, img.max())
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("make", [
    lambda: DnCNN(depth=6, features=8),
    lambda: FFDNet(depth=5, features=16),
    lambda: UNet(features=8, levels=2),
])
def test_tiled_equals_untiled(make, rng):
    torch.manual_seed(0)
    m = make().eval()
    img = rng.random((203, 187)).astype(np.float32)
    full = run_to_end(denoise_iter(img, m, sigma=0.1, device="cpu", tile=4096))
    tiled = run_to_end(denoise_iter(img, m, sigma=0.1, device="cpu", tile=96))
    assert full.info["tiles"] == 1 and tiled.info["tiles"] > 4
    assert np.abs(full.image - tiled.image).max() < 1e-4


def test_tiled_equals_untiled_3d(rng):
    torch.manual_seed(0)
    m = DnCNN(depth=3, features=4, dims=3).eval()
    vol = rng.random((40, 50, 44)).astype(np.float32)
    full = run_to_end(denoise_iter(vol, m, axes="ZYX", mode="3d", device="cpu", tile=4096))
    tiled = run_to_end(denoise_iter(vol, m, axes="ZYX", mode="3d", device="cpu", tile=32))
    assert tiled.info["tiles"] > 1
    assert np.abs(full.image - tiled.image).max() < 1e-4


def test_3d_model_on_volume_runs_in_3d(rng):
    m = UNet(features=4, levels=2, dims=3).eval()
    vol = rng.random((8, 24, 24)).astype(np.float32)
    res = run_to_end(denoise_iter(vol, m, axes="ZYX", device="cpu"))
    assert res.info["mode"] == "3d" and res.image.shape == vol.shape
    with pytest.raises(DenoiseError, match="2-D"):
        nd.denoise(vol, DnCNN(depth=3, features=4), axes="ZYX", mode="3d", device="cpu")


def test_progress_reports_every_tile_and_cancel_stops(net, rng):
    img = rng.random((256, 256)).astype(np.float32)
    seen = []
    res = run_to_end(denoise_iter(img, net, device="cpu", tile=64), seen.append)
    tiles = [p for p in seen if p.total > 1]
    assert len(tiles) >= res.info["tiles"] and tiles[-1].done == tiles[-1].total
    assert all(b.done >= a.done for a, b in zip(tiles, tiles[1:]))

    calls = []

    def stop_after_three(p):
        calls.append(p)
        return len(calls) < 3

    with pytest.raises(nd.Cancelled):
        nd.denoise(img, net, device="cpu", tile=64, progress=stop_after_three)
    assert len(calls) == 3


def test_generator_close_cancels_between_tiles(net, rng):
    tiles = []  # one entry per tile the model computed (the engine may copy the model)

    class Counting(torch.nn.Module):
        dims, in_channels, takes_noise_map, rf_radius, size_multiple = 2, 1, False, 2, 1

        def forward(self, x, s=None):
            tiles.extend([1] * x.shape[0])
            return x

    gen = denoise_iter(rng.random((200, 200)).astype(np.float32), Counting(), device="cpu",
                       tile=64)
    start = next(gen)
    while start.total <= 1:  # set-up steps (the noise estimate) before the tiles
        start = next(gen)
    assert start.done == 0 and start.total > 4 and not tiles
    for _ in range(2):
        p = next(gen)
    computed = len(tiles)
    assert computed == p.done == 2  # one tile per step, none ahead
    gen.close()
    assert len(tiles) == computed, "tiles were computed after close()"
    with pytest.raises(StopIteration):  # closed for good
        next(gen)
    assert len(tiles) == computed


def test_out_of_memory_retries_with_smaller_tiles(rng):
    class Picky(torch.nn.Module):
        """Fails like an out-of-memory GPU on tiles larger than 100 pixels."""
        dims, in_channels, takes_noise_map, rf_radius, size_multiple = 2, 1, False, 2, 1

        def forward(self, x, s=None):
            if max(x.shape[-2:]) > 100:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return x * 0.5

    img = rng.random((300, 300)).astype(np.float32)
    res = run_to_end(denoise_iter(img, Picky(), device="cpu", tile=400, data_range=(0, 1)))
    assert res.info["oom_retries"] >= 1
    np.testing.assert_allclose(res.image, img * 0.5, atol=1e-6)


def test_auto_tile_follows_memory(monkeypatch, net):
    from napari_denoise.core.models import resolve_denoiser

    d = resolve_denoiser(net, "cpu")
    monkeypatch.setattr(tiling, "_memory_budget", lambda dev: 1e12)
    big = inference.auto_tile(d, 2)
    monkeypatch.setattr(tiling, "_memory_budget", lambda dev: 20e6)
    small = inference.auto_tile(d, 2)
    assert small < big


def test_sigma_map_is_used(ffd, rng):
    img = rng.random((48, 48)).astype(np.float32)
    lo = nd.denoise(img, ffd, sigma=np.full(img.shape, 0.01, np.float32), device="cpu")
    hi = nd.denoise(img, ffd, sigma=np.full(img.shape, 0.3, np.float32), device="cpu")
    same = nd.denoise(img, ffd, sigma=0.3, device="cpu")
    assert np.abs(lo - hi).max() > 1e-3
    np.testing.assert_allclose(hi, same, atol=1e-5)


def test_sigma_is_in_data_units(ffd, rng):
    img8 = (rng.random((48, 48)) * 255).astype(np.uint8)
    a = nd.denoise(img8, ffd, sigma=25, device="cpu")
    b = nd.denoise(img8.astype(np.float32) / 255, ffd, sigma=25 / 255, device="cpu")
    assert np.abs(a.astype(float) - np.rint(np.clip(b, 0, 1) * 255)).max() <= 1


# -- bad input -------------------------------------------------------------------

@pytest.mark.parametrize("img,match", [
    (np.zeros((0, 10), np.float32), "empty"),
    (np.zeros((1, 1), np.float32), "too small"),
    (np.zeros(10, np.float32), "2-D"),
    (np.array([[1.0, np.nan] * 8] * 16, np.float32), "NaN"),
    (np.array([[1.0, np.inf] * 8] * 16, np.float64), "NaN or infinite"),
    (np.zeros((16, 16), bool), "data type"),
    (np.zeros((16, 16), np.complex64), "data type"),
])
def test_bad_images_give_clear_errors(net, img, match):
    with pytest.raises(DenoiseError, match=match):
        nd.denoise(img, net, device="cpu")


def test_axes_that_do_not_fit(net):
    img = np.zeros((4, 32, 32), np.float32)
    with pytest.raises(DenoiseError, match="letters"):
        nd.denoise(img, net, axes="YX")
    with pytest.raises(DenoiseError, match="unknown letter"):
        nd.denoise(img, net, axes="KWE")
    # X before Y is a layout, not an error: denoised as the transposed view, returned as given
    stored = np.random.default_rng(0).random((4, 40, 32)).astype(np.float32)  # Z, X, Y
    zxy = nd.denoise(stored, net, axes="ZXY", device="cpu")
    zyx = nd.denoise(np.ascontiguousarray(stored.transpose(0, 2, 1)), net, axes="ZYX",
                     device="cpu")
    assert zxy.shape == stored.shape and not np.allclose(zxy, stored)
    np.testing.assert_array_equal(zxy, zyx.transpose(0, 2, 1))
    with pytest.raises(DenoiseError, match="too small"):
        nd.denoise(np.zeros((32, 2, 32), np.float32), net, axes="ZYX")


def test_unknown_model_name_lists_the_known_ones(rng):
    with pytest.raises(ValueError, match="unknown model 'nope'.*nlm"):
        nd.denoise(rng.random((16, 16)), "nope")


def test_constant_image_returned_unchanged(net):
    img = np.full((32, 32), 7, np.uint16)
    np.testing.assert_array_equal(nd.denoise(img, net, device="cpu"), img)


def test_dask_array_input(net, rng):
    import dask.array as da
    arr = _img(rng, (4, 40, 40), np.uint16)
    lazy = da.from_array(arr, chunks=(1, 40, 40))
    out = nd.denoise(lazy, net, axes="ZYX", device="cpu")
    np.testing.assert_array_equal(out, nd.denoise(arr, net, axes="ZYX", device="cpu"))


def test_cuda_request_without_gpu_is_clear(net, rng):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="cuda"):
        nd.denoise(rng.random((16, 16)), net, device="cuda")


def test_lazy_input_with_nan_is_refused(net):
    import dask.array as da
    arr = np.zeros((3, 32, 32), np.float32)
    arr[2, 5, 5] = np.nan  # in a plane the range sample may not see
    lazy = nd.denoise(da.from_array(arr, chunks=(1, 32, 32)), net, axes="ZYX", sigma=0.1,
                      device="cpu")  # lazy: refused when the plane is computed
    with pytest.raises(DenoiseError, match="NaN"):
        lazy.compute()
    with pytest.raises(DenoiseError, match="NaN"):  # and by the engine directly
        nd.core.progress.run_to_end(nd.denoise_iter(
            da.from_array(arr, chunks=(1, 32, 32)), net, axes="ZYX", sigma=0.1, device="cpu"))
