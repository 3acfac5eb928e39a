"""Planes too large for memory: Y-X blocks with a halo give the whole-plane result,
hold one block at a time, and resume block by block."""

import numpy as np
import pytest
import zarr

import napari_denoise as nd
from napari_denoise.core import inference, plane_blocks
from napari_denoise.core.chunked import denoise_to_zarr
from napari_denoise.core.progress import Cancelled
from napari_denoise.io.zarr_store import units_done


def _plane(shape=(2, 300, 340), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[1], :shape[2]]
    base = 300 + 200 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    return rng.poisson(np.broadcast_to(base, shape)).astype(np.uint16)


@pytest.mark.parametrize("model", ["drunet_gray", "nlm"])
def test_blocks_equal_the_whole_plane_and_hold_one_block(tmp_path, model, monkeypatch):
    img = _plane(shape=(1, 300, 340))
    seen = []
    orig = inference._denoise_iter

    def recording(image, *a, **kw):
        seen.append(tuple(image.shape))
        return orig(image, *a, **kw)

    monkeypatch.setattr(inference, "_denoise_iter", recording)
    res = denoise_to_zarr(img, tmp_path / "out.zarr", model, axes="ZYX", block=192)
    monkeypatch.setattr(inference, "_denoise_iter", orig)
    np.testing.assert_array_equal(np.asarray(res.image), nd.denoise(img, model, axes="ZYX"))
    from napari_denoise.core.tiling import default_overlap

    den = inference._resolve(model, "cpu")
    most = 192 + 2 * default_overlap(den) + den.size_multiple  # a block and its halo
    assert len(seen) == 2 * 2 and all(h <= most and w <= most for h, w in seen)
    assert max(h * w for h, w in seen) < 300 * 340  # never the whole plane
    state = dict(zarr.open_group(str(tmp_path / "out.zarr")).attrs)["napari_denoise"]
    assert state["complete"] and state["settings"]["block"] == 192


def test_colour_planes_go_in_blocks_too(tmp_path):
    rng = np.random.default_rng(3)
    img = np.clip(rng.normal(128, 30, (200, 260, 3)), 0, 255).astype(np.uint8)
    res = denoise_to_zarr(img, tmp_path / "rgb.zarr", "nlm", axes="YXC", block=96)
    np.testing.assert_array_equal(np.asarray(res.image), nd.denoise(img, "nlm", axes="YXC"))


def test_an_interrupted_block_run_resumes_at_the_next_block(tmp_path):
    img = _plane(shape=(1, 200, 200), seed=1)
    out = tmp_path / "out.zarr"

    def stop_after_three(p):
        return len(units_done(dict(zarr.open_group(str(out)).attrs["napari_denoise"]))) < 3

    with pytest.raises(Cancelled):
        denoise_to_zarr(img, out, "nlm", axes="ZYX", block=64, progress=stop_after_three)
    res = denoise_to_zarr(img, out, "nlm", axes="ZYX", block=64)
    assert any("resumed: 3" in n for n in res.info.notes)
    np.testing.assert_array_equal(np.asarray(res.image), nd.denoise(img, "nlm", axes="ZYX"))
    with pytest.raises(nd.DenoiseError, match="other settings"):
        denoise_to_zarr(img, out, "nlm", axes="ZYX", block=128)


def test_which_planes_go_in_blocks_and_refusals(tmp_path):
    assert plane_blocks.needs_blocks((60000, 60000), "YX")
    assert plane_blocks.needs_blocks((3, 20000, 20000, 3), "ZYXC")
    assert not plane_blocks.needs_blocks((500, 2048, 2048), "ZYX")
    img = _plane(shape=(1, 80, 80))
    with pytest.raises(nd.DenoiseError, match="at least 64"):
        denoise_to_zarr(img, tmp_path / "a.zarr", "tv", axes="ZYX", block=16)
    with pytest.raises(nd.DenoiseError, match="2-D processing"):
        denoise_to_zarr(img, tmp_path / "b.zarr", "tv", axes="ZYX", block=64, mode="3d")
    with pytest.raises(nd.DenoiseError, match="without a cluster"):
        denoise_to_zarr(img, tmp_path / "c.zarr", "tv", axes="ZYX", block=64, client=object())
