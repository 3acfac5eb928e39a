"""denoise(dask_array) is lazy: nothing read until asked, the same result as in memory,
and the same on a dask.distributed cluster of worker processes."""

import dask.array as da
import numpy as np
import pytest

import napari_denoise as nd


def _stack(shape=(4, 64, 72), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[-2], :shape[-1]]
    base = 300 + 200 * np.sin(xx / 8.0) * np.cos(yy / 6.0)
    return rng.poisson(np.broadcast_to(base, shape)).astype(np.uint16)


def _counting(arr, chunks):
    reads = []

    def read(block, block_info=None):
        reads.append(block_info[None]["chunk-location"] if block_info else None)
        return block

    lazy = da.from_array(arr, chunks=chunks).map_blocks(
        read, dtype=arr.dtype, meta=np.empty((0,) * arr.ndim, arr.dtype))
    return lazy, reads


def test_nothing_is_computed_until_asked_and_the_result_is_the_engines():
    arr = _stack()
    lazy, reads = _counting(arr, (1, 64, 72))
    out = nd.denoise(lazy, "tv", axes="ZYX")
    assert isinstance(out, da.Array) and out.shape == arr.shape and out.dtype == arr.dtype
    assert reads == []
    np.testing.assert_array_equal(out.compute(), nd.denoise(arr, "tv", axes="ZYX"))
    assert len(reads) > 0


def test_one_plane_reads_the_samples_and_that_plane_only():
    # planes of 1 MP: the value-range sample (4 M values) is 4 planes, the noise sample 8
    arr = _stack(shape=(20, 1024, 1024), seed=3)
    lazy, reads = _counting(arr, (1, 1024, 1024))
    kw = dict(axes="ZYX", data_range=(0, 600))
    plane = nd.denoise(lazy, "tv", **kw)[5].compute()
    # the in-memory engine given the lazy array estimates from the same sample planes
    from napari_denoise.core.progress import run_to_end

    whole = run_to_end(nd.denoise_iter(da.from_array(arr[:, :, :], chunks=(1, 1024, 1024)),
                                       "tv", **kw))
    np.testing.assert_array_equal(plane, whole.image[5])
    assert (5, 0, 0) in reads and len(set(reads)) <= 12 and (1, 0, 0) not in reads


def test_blocks_hold_whole_planes_whatever_the_input_chunks():
    arr = _stack(seed=1)
    out = nd.denoise(da.from_array(arr, chunks=(2, 20, 30)), "drunet_gray", axes="ZYX",
                     sigma=12.0, data_range=(0, 700))
    assert out.chunks == ((1, 1, 1, 1), (64,), (72,))
    ref = nd.denoise(arr, "drunet_gray", axes="ZYX", sigma=12.0, data_range=(0, 700))
    np.testing.assert_array_equal(out.compute(), ref)


def test_lazy_refusals_are_clear():
    lazy = da.from_array(_stack(), chunks=(1, 64, 72))
    with pytest.raises(nd.DenoiseError, match="tune=True needs the data in memory"):
        nd.denoise(lazy, "tv", axes="ZYX", tune=True)
    with pytest.raises(nd.DenoiseError, match="per-pixel noise map"):
        nd.denoise(lazy, "tv", axes="ZYX", sigma=np.ones(lazy.shape, np.float32))


def test_distributed_cluster_of_two_processes_gives_the_same_result():
    from distributed import Client, LocalCluster

    arr = _stack(shape=(4, 48, 48), seed=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        out = nd.denoise(da.from_array(arr, chunks=(1, 48, 48)), "tv", axes="ZYX")
        got = client.compute(out).result()
        assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_array_equal(got, nd.denoise(arr, "tv", axes="ZYX"))
