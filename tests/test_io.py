"""Image files in and out (napari_denoise.io) and the bundled noisy samples."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_denoise.io import ImageMeta, check_writable, read_image, write_image


def _ij(path):
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        return (tf.is_imagej, dict(tf.imagej_metadata or {}), tuple(page.resolution),
                int(page.resolutionunit), tf.series[0].axes)


# -- TIFF round trips ----------------------------------------------------------------

def test_imagej_zyx_stack_roundtrip(tmp_path, rng):
    data = rng.integers(0, 4000, (5, 40, 48), dtype=np.uint16)
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, data, imagej=True, resolution=(1 / 0.2, 1 / 0.25),
                     metadata={"axes": "ZYX", "spacing": 0.5, "unit": "um"})
    arr, meta = read_image(src)
    assert arr.dtype == np.uint16 and arr.shape == data.shape
    np.testing.assert_array_equal(arr, data)
    assert meta.axes == "ZYX"
    assert meta.unit == "µm"
    assert meta.scale == pytest.approx((0.5, 0.25, 0.2))
    assert meta.layer_scale == meta.scale

    out = tmp_path / "sub" / "dir" / "out.tif"  # parents are created
    write_image(out, arr[::-1].copy(), meta)
    arr2, meta2 = read_image(out)
    assert arr2.dtype == np.uint16 and arr2.shape == data.shape
    assert meta2.axes == "ZYX" and meta2.unit == "µm"
    assert meta2.scale == pytest.approx(meta.scale)
    is_ij, md, res, resunit, axes = _ij(out)
    assert is_ij and axes == "ZYX"
    assert md["spacing"] == pytest.approx(0.5) and md["unit"] == "um"
    assert res == pytest.approx((5.0, 4.0))
    assert resunit == _ij(src)[3]


def test_imagej_time_series_keeps_interval_and_escaped_micro(tmp_path):
    data = np.zeros((3, 2, 16, 16), np.float32)
    src = tmp_path / "t.tif"
    tifffile.imwrite(src, data, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "TCYX", "finterval": 0.5, "unit": "\\u00B5m"})
    arr, meta = read_image(src)
    assert meta.axes == "TCYX" and meta.time_interval == pytest.approx(0.5)
    assert meta.unit == "µm"
    assert meta.scale == pytest.approx((0.5, 1.0, 0.5, 0.5))
    assert meta.layer_scale == pytest.approx((0.5, 0.5, 0.5))
    assert meta.layer_kwargs()["channel_axis"] == 1
    out = tmp_path / "o.tif"
    write_image(out, arr, meta)
    _, md, res, _, axes = _ij(out)
    assert axes == "TCYX" and md["finterval"] == pytest.approx(0.5)
    assert md["unit"] == "\\u00B5m" and res == pytest.approx((2.0, 2.0))


def test_rgb_tiff_yxc_keeps_photometric_and_dpi(tmp_path, rng):
    data = rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)
    src = tmp_path / "rgb.tif"
    tifffile.imwrite(src, data, photometric="rgb", resolution=(300, 300), resolutionunit="INCH")
    arr, meta = read_image(src)
    assert meta.axes == "YXC" and meta.rgb and arr.shape == (32, 40, 3)
    assert meta.unit == "inch" and meta.pixel_size["X"] == pytest.approx(1 / 300)
    assert meta.layer_kwargs() == {"scale": pytest.approx((1 / 300, 1 / 300)), "rgb": True}
    out = tmp_path / "rgb_out.tif"
    write_image(out, arr, meta)
    with tifffile.TiffFile(out) as tf:
        page = tf.pages[0]
        assert tf.series[0].axes == "YXS"
        assert page.photometric == tifffile.PHOTOMETRIC.RGB
        assert page.resolution == pytest.approx((300, 300))
        assert page.resolutionunit == tifffile.RESUNIT.INCH
        np.testing.assert_array_equal(tf.asarray(), data)


def test_ome_tiff_physical_sizes_roundtrip(tmp_path):
    data = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    src = tmp_path / "s.ome.tif"
    tifffile.imwrite(src, data, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3, "PhysicalSizeZ": 1.5,
        "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm", "PhysicalSizeZUnit": "µm"})
    arr, meta = read_image(src)
    assert meta.axes == "ZYX" and meta.scale == pytest.approx((1.5, 0.3, 0.3))
    assert meta.unit == "µm"
    out = tmp_path / "o.ome.tif"
    write_image(out, arr, meta)
    _, meta2 = read_image(out)
    assert meta2.tiff["kind"] == "ome" and meta2.axes == "ZYX"
    assert meta2.scale == pytest.approx(meta.scale) and meta2.unit == "µm"


def test_plain_multipage_and_shaped_tiffs(tmp_path, rng):
    pages = rng.random((3, 20, 24)).astype(np.float32)
    mp = tmp_path / "pages.tif"
    with tifffile.TiffWriter(mp) as w:
        for p in pages:
            w.write(p, metadata=None, photometric="minisblack")
    arr, meta = read_image(mp)
    assert meta.axes == "ZYX" and arr.dtype == np.float32  # a page sequence is a stack
    write_image(tmp_path / "pages_out.tif", arr, meta)
    arr2, meta2 = read_image(tmp_path / "pages_out.tif")
    assert meta2.axes == "ZYX" and arr2.dtype == np.float32
    np.testing.assert_array_equal(arr2, pages)

    shaped = rng.integers(-500, 500, (2, 3, 16, 16)).astype(np.int16)
    tifffile.imwrite(tmp_path / "tc.tif", shaped, metadata={"axes": "TCYX"},
                     photometric="minisblack", compression="zlib")
    arr, meta = read_image(tmp_path / "tc.tif")
    assert meta.axes == "TCYX" and arr.dtype == np.int16
    write_image(tmp_path / "tc_out.tif", arr, meta)
    arr2, meta2 = read_image(tmp_path / "tc_out.tif")
    assert meta2.axes == "TCYX" and arr2.dtype == np.int16
    np.testing.assert_array_equal(arr2, shaped)


def test_imagej_meta_with_float64_falls_back_to_ome(tmp_path):
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, np.zeros((4, 16, 16), np.uint16), imagej=True, resolution=(5, 5),
                     metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    _, meta = read_image(src)
    write_image(tmp_path / "b.tif", np.zeros((4, 16, 16), np.float64), meta)
    arr, meta2 = read_image(tmp_path / "b.tif")
    assert arr.dtype == np.float64 and meta2.axes == "ZYX"
    assert meta2.scale == pytest.approx((2.0, 0.2, 0.2))


def test_new_tiff_from_meta_without_file_layout(tmp_path):
    meta = ImageMeta(axes="ZYX", shape=(3, 16, 16), dtype="uint16",
                     pixel_size={"Z": 1.0, "Y": 0.1, "X": 0.1}, unit="µm")
    write_image(tmp_path / "n.tif", np.ones((3, 16, 16), np.uint16), meta)
    _, m2 = read_image(tmp_path / "n.tif")
    assert m2.axes == "ZYX" and m2.scale == pytest.approx((1.0, 0.1, 0.1)) and m2.unit == "µm"
    write_image(tmp_path / "plain.tif", np.ones((8, 8, 3), np.uint8))
    _, m3 = read_image(tmp_path / "plain.tif")
    assert m3.axes == "YXC"


# -- PNG, JPEG, npy ------------------------------------------------------------------------

def test_png_roundtrip_gray_rgb_16bit(tmp_path, rng):
    gray = rng.integers(0, 255, (20, 30), dtype=np.uint8)
    rgb = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    g16 = rng.integers(0, 65535, (20, 30), dtype=np.uint16)
    for name, a, axes in [("g.png", gray, "YX"), ("c.png", rgb, "YXC"), ("w.png", g16, "YX")]:
        write_image(tmp_path / name, a)
        b, meta = read_image(tmp_path / name)
        assert meta.axes == axes and meta.format == "png" and b.dtype == a.dtype
        np.testing.assert_array_equal(b, a)


def test_jpeg_written_at_high_quality(tmp_path):
    from skimage.data import astronaut

    img = astronaut()[:128, :128]
    write_image(tmp_path / "a.jpg", img)
    back, meta = read_image(tmp_path / "a.jpg")
    assert meta.axes == "YXC" and back.shape == img.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - img).mean() < 3.0  # quality 95


def test_npy_roundtrip(tmp_path):
    a = np.linspace(0, 1, 6 * 8 * 8, dtype=np.float32).reshape(6, 8, 8)
    write_image(tmp_path / "a.npy", a)
    b, meta = read_image(tmp_path / "a.npy")
    assert meta.axes == "ZYX"
    np.testing.assert_array_equal(a, b)


# -- errors -------------------------------------------------------------------------------

def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_image(tmp_path / "missing.tif")
    (tmp_path / "fake.tif").write_text("this is not a tiff")
    with pytest.raises(ValueError, match="not a readable TIFF"):
        read_image(tmp_path / "fake.tif")
    (tmp_path / "fake.png").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="readable format"):
        read_image(tmp_path / "fake.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ValueError, match="folder"):
        read_image(tmp_path)


def test_tiff_detected_by_content_whatever_the_extension(tmp_path):
    tifffile.imwrite(tmp_path / "noext", np.ones((8, 8), np.uint8))
    arr, meta = read_image(tmp_path / "noext")
    assert meta.format == "tiff" and arr.shape == (8, 8)


def test_write_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown file type"):
        write_image(tmp_path / "a.xyz", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="8-bit"):
        write_image(tmp_path / "a.jpg", np.zeros((8, 8), np.uint16))
    with pytest.raises(ValueError, match=r"\.tif"):
        write_image(tmp_path / "a.png", np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="stacks"):
        write_image(tmp_path / "a.png", np.zeros((5, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="folder"):
        check_writable(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch, exc):
    out = tmp_path / "out.tif"
    out.write_bytes(b"previous result")

    def broken(path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"II*\x00 half written")
        raise exc

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(type(exc)):
        write_image(out, np.zeros((8, 8), np.uint8))
    assert out.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


# -- bundled samples ---------------------------------------------------------------------

def test_noisy_camera_deterministic():
    from napari_denoise._sample_data import noisy_camera

    n1, clean, sigma = noisy_camera()
    n2, _, _ = noisy_camera()
    assert sigma == 25 and n1.dtype == np.uint8 and clean.dtype == np.uint8
    assert n1.shape == clean.shape == (512, 512)
    np.testing.assert_array_equal(n1, n2)
    noise = n1.astype(float) - clean
    assert 22 < noise.std() < 26 and abs(noise.mean()) < 1.5
    assert not np.array_equal(noisy_camera(seed=1)[0], n1)


def test_noisy_stack_and_timeseries():
    from napari_denoise._sample_data import noisy_stack, noisy_timeseries

    noisy, clean, p = noisy_stack(shape=(8, 64, 64))
    assert noisy.shape == clean.shape == (8, 64, 64) and noisy.dtype == np.uint16
    assert p["noise_model"] == "poisson-gaussian" and p["gain"] > 0
    resid = noisy.astype(float) - clean
    expected_var = p["gain"] * (clean.astype(float) - p["offset"]) + p["read_sigma"] ** 2
    assert resid.var() == pytest.approx(expected_var.mean(), rel=0.15)
    np.testing.assert_array_equal(noisy, noisy_stack(shape=(8, 64, 64))[0])

    frames, clean2, p2 = noisy_timeseries(n_frames=3)
    assert frames.shape == (3,) + clean2.shape and frames.dtype == np.uint16
    assert not np.array_equal(frames[0], frames[1])  # independent noise per frame
    assert np.abs(frames.mean(0) - clean2).mean() < np.abs(frames[0] - clean2.astype(float)).mean()


def test_sample_layer_data_and_no_napari_import():
    from napari_denoise import _sample_data as sd

    for fn in (sd.make_sample_2d, sd.make_sample_3d, sd.make_sample_timeseries):
        layers = fn()
        assert layers and all(kind == "image" for _, _, kind in layers)
        for data, kw, _ in layers:
            assert isinstance(data, np.ndarray) and kw["name"] and "metadata" in kw
    code = ("import sys, napari_denoise._sample_data, napari_denoise.io; "
            "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
