"""Out-of-core runs on a real dask.distributed cluster of two worker processes:
the same store as a single-process run, resumable across the two, clear refusals."""

import time

import numpy as np
import pytest
import zarr

import napari_denoise as nd
from napari_denoise.cli import main
from napari_denoise.core import distributed as dist
from napari_denoise.core.chunked import denoise_to_zarr
from napari_denoise.core.progress import Cancelled
from napari_denoise.io.zarr_store import units_done


def _stack(shape=(5, 48, 64), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[-2], :shape[-1]]
    base = 200 + 150 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
    return rng.poisson(np.broadcast_to(base, shape)).astype(np.uint16)


def _zarr_input(path, data):
    z = zarr.create_array(str(path), shape=data.shape, dtype=data.dtype,
                          chunks=(1,) + data.shape[1:])
    z[:] = data
    return path


@pytest.fixture(scope="module")
def client():
    c, _ = dist.connect(workers=2)
    yield c
    dist.close(c)


@pytest.mark.parametrize("model", ["tv", "drunet_gray"])
def test_cluster_store_equals_the_single_process_store(tmp_path, client, model):
    data = _stack()
    src = _zarr_input(tmp_path / "in.zarr", data)
    one = denoise_to_zarr(src, tmp_path / "one.zarr", model, axes="ZYX")
    seen = []
    two = denoise_to_zarr(src, tmp_path / "two.zarr", model, axes="ZYX", client=client,
                          progress=lambda p: seen.append((p.done, p.total)) or True)
    assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_array_equal(np.asarray(two.image), np.asarray(one.image))
    state = dict(zarr.open_group(str(tmp_path / "two.zarr")).attrs)["napari_denoise"]
    assert state["complete"] and state["units_done"] == [[0, 4]]
    assert seen[-1] == (5, 5)  # one progress step per plane
    assert two.info.model == one.info.model and two.info.sigma == one.info.sigma


def test_a_store_started_in_one_process_is_finished_on_the_cluster(tmp_path, client):
    data = _stack(shape=(6, 40, 56), seed=3)
    src = _zarr_input(tmp_path / "in.zarr", data)
    out = tmp_path / "out.zarr"

    def stop_after_two(p):
        return len(units_done(dict(zarr.open_group(str(out)).attrs["napari_denoise"]))) < 2

    with pytest.raises(Cancelled):
        denoise_to_zarr(src, out, "tv", axes="ZYX", progress=stop_after_two)
    before = zarr.open_array(str(out / "0"))[:2].copy()
    res = denoise_to_zarr(src, out, "tv", axes="ZYX", client=client)
    assert any("resumed: 2" in n for n in res.info.notes)
    np.testing.assert_array_equal(np.asarray(res.image)[:2], before)
    np.testing.assert_array_equal(np.asarray(res.image), nd.denoise(data, "tv", axes="ZYX"))


def test_a_cluster_run_needs_a_path_and_a_scheduler_that_answers(tmp_path, client):
    with pytest.raises(nd.DenoiseError, match="reads its input by path"):
        denoise_to_zarr(_stack(), tmp_path / "o.zarr", "tv", axes="ZYX", client=client)
    t = time.perf_counter()
    with pytest.raises(nd.DenoiseError, match="no dask scheduler answered at tcp://127.0.0.1:9"):
        dist.connect(scheduler="tcp://127.0.0.1:9", timeout=2)
    assert time.perf_counter() - t < 20


def test_cli_workers_and_scheduler_flags(tmp_path, capsys, client):
    data = _stack(shape=(3, 40, 48), seed=5)
    src = _zarr_input(tmp_path / "in.zarr", data)
    addr = client.scheduler.address
    rc = main(["denoise", str(src), "-o", str(tmp_path / "out.zarr"), "--model", "tv",
               "--axes", "ZYX", "--scheduler", addr, "--quiet"])
    assert rc == 0
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "out.zarr" / "0"))[:],
                                  nd.denoise(data, "tv", axes="ZYX"))
    rc = main(["denoise", str(src), "-o", str(tmp_path / "b.zarr"), "--workers", "0"])
    assert rc == 2 and "--workers" in capsys.readouterr().err
    import tifffile

    tifffile.imwrite(tmp_path / "a.tif", data[0])
    rc = main(["denoise", str(tmp_path / "a.tif"), "-o", str(tmp_path / "b.tif"),
               "--workers", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "--workers" in err and ".zarr" in err


def test_cli_batch_on_the_cluster_skips_a_bad_file(tmp_path, capsys, client):
    import tifffile

    files = tmp_path / "plate"
    files.mkdir()
    imgs = [_stack(shape=(40, 48), seed=s) for s in (7, 8)]
    for i, im in enumerate(imgs):
        tifffile.imwrite(files / f"well_{i}.tif", im)
    (files / "well_9.tif").write_bytes(b"not a tiff")
    rc = main(["denoise", str(files), "-o", str(tmp_path / "out"), "--model", "tv",
               "--scheduler", client.scheduler.address, "--quiet"])
    out = capsys.readouterr()
    assert rc == 1 and "well_9.tif" in out.err and "2 of 3 file(s)" in out.out
    for i, im in enumerate(imgs):
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / f"well_{i}.tif"),
                                      nd.denoise(im, "tv"))
    assert not (tmp_path / "out" / "well_9.tif").exists()
