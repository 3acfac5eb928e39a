"""Saving a result with its metadata (napari_denoise.io.save; no display needed)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_denoise.io import read_image
from napari_denoise.io.save import result_meta, save_kind, save_result, saved_settings
from napari_denoise.io.zarr_store import read_zarr


def test_ome_tiff_and_rgb_keep_scale_units_and_settings(tmp_path):
    rng = np.random.default_rng(0)
    stack = rng.random((2, 16, 20)).astype(np.float32)
    p = save_result(tmp_path / "a.ome.tif", stack, axes="TYX", scale=(5.0, 0.2, 0.2),
                    units=("second", "nanometer", "nanometer"), settings={"method": "bm3d"})
    back, meta = read_image(p)
    np.testing.assert_array_equal(back, stack)
    assert meta.tiff["kind"] == "ome" and meta.unit == "nm"
    assert meta.scale == pytest.approx((5.0, 0.2, 0.2))
    assert saved_settings(p) == {"method": "bm3d"}
    rgb = (rng.random((16, 20, 3)) * 255).astype(np.uint8)  # napari: no scale for RGB's C
    p = save_result(tmp_path / "rgb.tif", rgb, axes="YXC", scale=(0.5, 0.5),
                    units=("micrometer", "micrometer"))
    back, meta = read_image(p)
    np.testing.assert_array_equal(back, rgb)
    assert meta.axes == "YXC" and meta.layer_scale == pytest.approx((0.5, 0.5))
    assert saved_settings(p) is None


def test_pixels_without_a_unit_are_not_given_one():
    meta = result_meta("ZYX", (2, 8, 8), np.uint16, (1.0, 1.0, 1.0), ("pixel",) * 3)
    assert meta.pixel_size == {} and meta.unit is None


def test_a_failed_zarr_save_leaves_the_old_store_and_no_temporary(tmp_path, monkeypatch):
    good = np.ones((2, 16, 16), np.float32)
    p = save_result(tmp_path / "r.ome.zarr", good, axes="ZYX", settings={"method": "tv"})

    class Broken:
        shape, dtype, ndim = (2, 16, 16), np.dtype(np.float32), 3

        def __getitem__(self, idx):
            raise OSError("the disk went away")

    with pytest.raises(OSError):
        save_result(p, Broken(), axes="ZYX")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.ome.zarr"]
    np.testing.assert_array_equal(np.asarray(read_zarr(p)[0]), good)


@pytest.mark.parametrize("name", ["r.png", "r", "r.npy"])
def test_formats_that_cannot_keep_the_metadata_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="choose a .tif"):
        save_kind(tmp_path / name)
    with pytest.raises(ValueError):
        save_result(tmp_path / name, np.zeros((8, 8), np.float32), axes="YX")
    assert list(tmp_path.iterdir()) == []
