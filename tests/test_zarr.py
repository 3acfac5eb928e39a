"""Out-of-core runs into zarr stores: the same result as the in-memory engine, resumable
after an interruption, OME-Zarr metadata kept, stores that are not ours refused."""

import numpy as np
import pytest
import zarr

import napari_denoise as nd
from napari_denoise.cli import main
from napari_denoise.core.chunked import ZarrSink, denoise_to_zarr
from napari_denoise.core.progress import Cancelled
from napari_denoise.io.zarr_store import read_zarr, units_done


def _stack(shape=(5, 64, 80), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[-2], :shape[-1]]
    base = 200 + 150 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
    return rng.poisson(np.broadcast_to(base, shape)).astype(np.uint16)


def _zarr_input(path, data, chunks=None):
    z = zarr.create_array(str(path), shape=data.shape, dtype=data.dtype,
                          chunks=chunks or (1,) + data.shape[1:])
    z[:] = data
    return path


@pytest.mark.parametrize("model", ["tv", "drunet_gray"])
def test_store_equals_the_in_memory_engine(tmp_path, model):
    data = _stack()
    src = _zarr_input(tmp_path / "in.zarr", data)
    res = denoise_to_zarr(src, tmp_path / "out.zarr", model, axes="ZYX")
    ref = nd.denoise(data, model, axes="ZYX")
    np.testing.assert_array_equal(np.asarray(res.image), ref)
    state = dict(zarr.open_group(str(tmp_path / "out.zarr")).attrs)["napari_denoise"]
    assert state["complete"] and state["units_done"] == [[0, 4]]
    assert np.array_equal(zarr.open_array(str(src))[:], data)  # input untouched


def test_interrupted_run_is_finished_by_a_rerun(tmp_path):
    data = _stack(shape=(6, 48, 64), seed=1)
    src = _zarr_input(tmp_path / "in.zarr", data)
    out = tmp_path / "out.zarr"
    calls = []

    def stop_after_three_units(p):
        calls.append(p)
        state = dict(zarr.open_group(str(out)).attrs["napari_denoise"])
        return len(units_done(state)) < 3

    with pytest.raises(Cancelled):
        denoise_to_zarr(src, out, "tv", axes="ZYX", progress=stop_after_three_units)
    state = dict(zarr.open_group(str(out)).attrs)["napari_denoise"]
    assert not state["complete"] and state["units_done"] == [[0, 2]]
    written = []
    orig = ZarrSink.write

    def counting(self, index, *a):
        written.append(index)
        return orig(self, index, *a)

    ZarrSink.write = counting
    try:
        res = denoise_to_zarr(src, out, "tv", axes="ZYX")
    finally:
        ZarrSink.write = orig
    assert written == [3, 4, 5]  # finished planes are not recomputed
    assert any("resumed: 3" in n for n in res.info.notes)
    np.testing.assert_array_equal(np.asarray(res.image), nd.denoise(data, "tv", axes="ZYX"))
    again = denoise_to_zarr(src, out, "tv", axes="ZYX")
    assert any("already complete" in n for n in again.info.notes)


def test_stores_that_are_not_ours_or_not_images_are_refused(tmp_path):
    data = _stack(shape=(2, 40, 40))
    src = _zarr_input(tmp_path / "in.zarr", data)
    foreign = _zarr_input(tmp_path / "foreign.zarr", data)
    with pytest.raises(nd.DenoiseError, match="not written by napari-denoise"):
        denoise_to_zarr(src, foreign, "tv", axes="ZYX")
    assert np.array_equal(zarr.open_array(str(foreign))[:], data)
    denoise_to_zarr(src, foreign, "tv", axes="ZYX", overwrite=True)
    with pytest.raises(nd.DenoiseError, match="other settings.*strength"):
        denoise_to_zarr(src, foreign, "tv", axes="ZYX", strength=2.0)
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(nd.DenoiseError, match="not a zarr store"):
        denoise_to_zarr(tmp_path / "empty.zarr", tmp_path / "o.zarr", "tv")
    one_d = _zarr_input(tmp_path / "line.zarr", np.arange(50, dtype=np.uint8), chunks=(50,))
    with pytest.raises(nd.DenoiseError, match="at least 2-D"):
        denoise_to_zarr(one_d, tmp_path / "o.zarr", "tv")
    with pytest.raises(nd.DenoiseError, match="must not be the input"):
        denoise_to_zarr(src, src, "tv", overwrite=True)
    with pytest.raises(nd.DenoiseError, match="per-pixel map"):
        denoise_to_zarr(src, tmp_path / "o2.zarr", "tv", sigma=np.ones(data.shape))


def test_ome_zarr_axes_units_scale_round_trip_and_pyramid(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    data = _stack(shape=(3, 256, 160), seed=2)
    root = zarr.open_group(str(tmp_path / "in.ome.zarr"), mode="w")
    write_image(data, root, axes="zyx", scale={"z": 2.0, "y": 0.25, "x": 0.25},
                axes_units={a: "micrometer" for a in "zyx"}, scale_factors=[2])
    lazy, meta = read_zarr(tmp_path / "in.ome.zarr")
    assert meta.axes == "ZYX" and meta.unit == "µm" and lazy.shape == data.shape
    assert meta.pixel_size == {"Z": 2.0, "Y": 0.25, "X": 0.25}
    res = denoise_to_zarr(tmp_path / "in.ome.zarr", tmp_path / "out.ome.zarr", "tv")
    assert res.info.axes == "ZYX"
    back, meta2 = read_zarr(tmp_path / "out.ome.zarr")
    assert meta2.axes == "ZYX" and meta2.unit == "µm"
    assert meta2.pixel_size == {"Z": 2.0, "Y": 0.25, "X": 0.25}
    out = zarr.open_group(str(tmp_path / "out.ome.zarr"))
    assert out["1"].shape == (3, 128, 80) and out["1"].dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(back), nd.denoise(data, "tv", axes="ZYX"))
    assert parse_url(str(tmp_path / "out.ome.zarr")) is not None


def test_cli_zarr_run_interrupt_and_finish(tmp_path, capsys, monkeypatch):
    data = _stack(shape=(4, 48, 48), seed=3)
    src = _zarr_input(tmp_path / "in.zarr", data)
    out = tmp_path / "out.zarr"
    orig = ZarrSink.write

    def interrupt_at_two(self, index, *a):
        if index == 2:
            raise KeyboardInterrupt
        return orig(self, index, *a)

    monkeypatch.setattr(ZarrSink, "write", interrupt_at_two)
    rc = main(["denoise", str(src), "-o", str(out), "-m", "tv", "--axes", "ZYX", "-q"])
    err = capsys.readouterr().err
    assert rc == 130 and "run the same command again" in err
    monkeypatch.setattr(ZarrSink, "write", orig)
    rc = main(["denoise", str(src), "-o", str(out), "-m", "tv", "--axes", "ZYX"])
    cap = capsys.readouterr()
    assert rc == 0 and f"wrote {out}" in cap.out and "resumed: 2" in cap.err
    np.testing.assert_array_equal(read_zarr(out)[0].compute(), nd.denoise(data, "tv", axes="ZYX"))
    rc = main(["denoise", str(src), "-o", str(tmp_path / "o.tif"), "-m", "tv"])
    err = capsys.readouterr().err
    assert rc == 2 and "give -o ending in .zarr" in err and err.count("\n") == 1


def test_finished_units_are_stored_as_runs(tmp_path):
    from napari_denoise.io.zarr_store import mark_done

    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    g.attrs["napari_denoise"] = {"complete": False}
    done = {0, 1, 2, 5, 6, 9}
    mark_done(g, done)
    state = dict(g.attrs["napari_denoise"])
    assert state["units_done"] == [[0, 2], [5, 6], [9, 9]] and units_done(state) == done
    mark_done(g, set(range(10_000)))  # however many planes: one run
    assert dict(g.attrs["napari_denoise"])["units_done"] == [[0, 9999]]
