"""Where a dask.distributed run stops scaling: the measured parts of a scaling model.

    python benchmarks/cluster_scaling.py                 # default model, 16 planes
    python benchmarks/cluster_scaling.py --model wavelet --planes 8

Measures on this machine, each in the same run:
- the compute time of one unit of work (one 1024x1024 uint16 plane, the store's chunk)
  with the chosen model, with torch on 1 thread and on all cores;
- the bytes a plane moves (read from the input store, written to the output store)
  and the local store's write and read bandwidth for such chunks;
- the scheduler's overhead per task (a LocalCluster of 2 processes running 400 empty
  tasks, the time per task at the client);
- ``denoise_to_zarr(client=...)`` end to end with 1 and 2 worker processes.
Then prints the model: with N workers each taking ``t_unit`` per plane, the run takes
``planes * max(t_unit / N, t_task, 2 * chunk_bytes / bandwidth)`` (compute spread over
the workers, the scheduler's serial work per task, and the storage shared by all), so
it scales until ``N = t_unit / max(t_task, 2 * chunk_bytes / bandwidth)``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

SIDE = 1024


def make_store(path: Path, planes: int) -> Path:
    import zarr

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    base = 400 + 300 * np.sin(xx / 23.0) * np.cos(yy / 17.0)
    z = zarr.create_array(str(path), shape=(planes, SIDE, SIDE), dtype=np.uint16,
                          chunks=(1, SIDE, SIDE), overwrite=True)
    for i in range(planes):
        z[i] = rng.poisson(base).astype(np.uint16)
    return path


def unit_time(model: str, threads: int, repeats: int = 3) -> float:
    import torch

    import napari_denoise as nd

    torch.set_num_threads(threads)
    rng = np.random.default_rng(1)
    plane = rng.poisson(500, (SIDE, SIDE)).astype(np.uint16)
    nd.denoise(plane[:128, :128], model, sigma=20.0, data_range=(0, 4095))  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        nd.denoise(plane, model, sigma=20.0, data_range=(0, 4095))
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def storage_bandwidth(work: Path, n: int = 32) -> tuple[float, float]:
    """(write, read) MB/s of 1024x1024 uint16 chunks in a local zarr store."""
    import zarr

    data = np.random.default_rng(2).integers(0, 4096, (SIDE, SIDE), dtype=np.uint16)
    p = work / "bw.zarr"
    z = zarr.create_array(str(p), shape=(n, SIDE, SIDE), dtype=np.uint16,
                          chunks=(1, SIDE, SIDE), overwrite=True)
    t = time.perf_counter()
    for i in range(n):
        z[i] = data
    w = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(n):
        np.asarray(z[i])
    r = time.perf_counter() - t
    shutil.rmtree(p)
    mb = n * data.nbytes / 1e6
    return mb / w, mb / r


def task_overhead(tasks: int = 400) -> float:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(abs, range(20)))  # warm-up
        t = time.perf_counter()
        client.gather(client.map(abs, range(1000, 1000 + tasks)))
        return (time.perf_counter() - t) / tasks


def end_to_end(src: Path, work: Path, model: str, workers: int) -> float:
    import napari_denoise as nd
    from napari_denoise.core.distributed import close, connect

    out = work / f"out{workers}.zarr"
    shutil.rmtree(out, ignore_errors=True)
    client, threads = connect(workers)
    try:
        nd.denoise_to_zarr(src, out, model, axes="ZYX", sigma=20.0, data_range=(0, 4095),
                           client=client, threads=threads, pyramid=False)  # warm-up: loads
        shutil.rmtree(out)
        t = time.perf_counter()
        nd.denoise_to_zarr(src, out, model, axes="ZYX", sigma=20.0, data_range=(0, 4095),
                           client=client, threads=threads, pyramid=False)
        return time.perf_counter() - t
    finally:
        close(client)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="drunet_gray")
    p.add_argument("--planes", type=int, default=16)
    p.add_argument("--work", type=Path, default=Path("/tmp/napari_denoise_cluster_bench"))
    a = p.parse_args(argv)
    import os

    a.work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    print(f"machine: {machine()}\nmodel: {a.model}, planes of {SIDE}x{SIDE} uint16\n")
    t1 = unit_time(a.model, 1)
    tn = unit_time(a.model, cores)
    wbw, rbw = storage_bandwidth(a.work)
    tt = task_overhead()
    src = make_store(a.work / "in.zarr", a.planes)
    e1 = end_to_end(src, a.work, a.model, 1)
    e2 = end_to_end(src, a.work, a.model, 2)
    chunk = SIDE * SIDE * 2
    t_io = chunk / (wbw * 1e6) + chunk / (rbw * 1e6)
    print("| measured | value |\n|---|---|")
    print(f"| one plane, torch on 1 thread | {t1:.2f} s |")
    print(f"| one plane, torch on {cores} threads | {tn:.2f} s |")
    print(f"| chunk read + written | {2 * chunk / 1e6:.1f} MB |")
    print(f"| local store write / read | {wbw:.0f} / {rbw:.0f} MB/s |")
    print(f"| scheduler overhead per task | {1000 * tt:.1f} ms |")
    print(f"| {a.planes} planes, 1 worker ({cores} threads) | {e1:.1f} s |")
    print(f"| {a.planes} planes, 2 workers ({max(1, cores // 2)} thread each) | {e2:.1f} s "
          f"(x{e1 / e2:.2f}) |")
    limit = max(tt, t_io)
    print(f"\nscaling model: per plane max(t_unit / N, {1000 * tt:.1f} ms scheduler, "
          f"{1000 * t_io:.1f} ms storage here); with t_unit = {t1:.2f} s (one CPU thread) "
          f"it scales to about N = {t1 / limit:.0f} workers on this storage and scheduler")
    for gpu_s in (0.05, 0.2):
        print(f"  a GPU worker at {gpu_s} s per plane (assumed, not measured here): "
              f"N = {gpu_s / limit:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
