"""Out-of-core runs: peak memory against data size, resume after an interruption, and
1 against 2 dask worker processes.

    python benchmarks/zarr_memory.py                      # 0.25 and 1 GB, wavelet
    python benchmarks/zarr_memory.py --sizes 0.25 1 4 --model drunet_gray

Each size is a uint16 Z stack of 1024x1024 planes in a zarr store (one plane per
chunk, written here once and kept under --work). Every run is a fresh process that
imports torch, opens the store and calls ``nd.denoise_to_zarr``; its peak resident
set size (ru_maxrss) is what the table reports. The memory pattern does not depend on
the method (one plane and its tiles at a time), so a fast one keeps large sizes quick;
give --model to measure the network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

SIDE = 1024

RUN = """
import json, resource, sys, time
import napari_denoise as nd
src, out, model, cancel_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
t = time.perf_counter()
def progress(p):
    return not (cancel_at and p.total > 1 and p.done >= cancel_at * p.total)
try:
    nd.denoise_to_zarr(src, out, model, axes="ZYX", sigma=20.0, data_range=(0, 4095),
                       pyramid=False, progress=progress)
    status = "complete"
except nd.Cancelled:
    status = "cancelled"
print(json.dumps({"status": status, "seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_store(path: Path, planes: int) -> None:
    import zarr

    if path.exists():
        return
    z = zarr.create_array(str(path), shape=(planes, SIDE, SIDE), dtype=np.uint16,
                          chunks=(1, SIDE, SIDE))
    yy, xx = np.mgrid[:SIDE, :SIDE]
    base = 1500 + 1000 * np.sin(xx / 40.0) * np.cos(yy / 31.0)
    rng = np.random.default_rng(0)
    for i in range(planes):
        z[i] = np.clip(base + rng.normal(0, 20, base.shape), 0, 4095).astype(np.uint16)


def run(src: Path, out: Path, model: str, cancel_at: float = 0.0) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN, str(src), str(out), model, str(cancel_at)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def workers(src: Path, model: str, n: int) -> float:
    import dask.array as da
    from distributed import Client, LocalCluster

    import napari_denoise as nd

    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        lazy = nd.denoise(da.from_zarr(str(src)), model, axes="ZYX", sigma=20.0,
                          data_range=(0, 4095))
        t = time.perf_counter()
        lazy.sum().compute()
        return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=float, nargs="*", default=[0.25, 1.0], help="GB of uint16")
    p.add_argument("--model", default="wavelet")
    p.add_argument("--work", default="/tmp/napari_denoise_zarr_bench")
    p.add_argument("--workers-planes", type=int, default=16)
    p.add_argument("--sizes-only", action="store_true", help="skip the resume and workers parts")
    a = p.parse_args(argv)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}\nmodel: {a.model}, planes of {SIDE}x{SIDE} uint16\n")
    print("| data | planes | peak RSS (MB) | seconds | s / MP |")
    print("|---|---|---|---|---|")
    peaks = []
    for gb in a.sizes:
        planes = max(1, int(round(gb * 2**30 / (SIDE * SIDE * 2))))
        src = work / f"in_{planes}.zarr"
        make_store(src, planes)
        out = work / "out.zarr"
        shutil.rmtree(out, ignore_errors=True)
        r = run(src, out, a.model)
        peaks.append(r["peak_mb"])
        print(f"| {gb:g} GB | {planes} | {r['peak_mb']:.0f} | {r['seconds']:.1f} | "
              f"{r['seconds'] / (planes * SIDE * SIDE / 1e6):.3f} |", flush=True)
    print(f"\npeak RSS spread across sizes: {100 * (max(peaks) / min(peaks) - 1):.1f}%")
    if a.sizes_only:
        return 0

    # resume: cancel at about half, rerun, compare with an uninterrupted run
    import zarr

    planes = max(1, int(round(a.sizes[0] * 2**30 / (SIDE * SIDE * 2))))
    src = work / f"in_{planes}.zarr"
    full, part = work / "full.zarr", work / "part.zarr"
    for d in (full, part):
        shutil.rmtree(d, ignore_errors=True)
    t_full = run(src, full, a.model)["seconds"]
    first = run(src, part, a.model, cancel_at=0.5)
    from napari_denoise.io.zarr_store import units_done

    done = len(units_done(dict(zarr.open_group(str(part)).attrs["napari_denoise"])))
    second = run(src, part, a.model)
    same = bool(np.array_equal(zarr.open_group(str(full))["0"][:],
                               zarr.open_group(str(part))["0"][:]))
    print(f"\nresume ({a.sizes[0]:g} GB): cancelled after {done} of {planes} planes "
          f"({first['seconds']:.1f} s); rerun {second['seconds']:.1f} s against "
          f"{t_full:.1f} s for a full run; byte-identical to the uninterrupted run: {same}")

    src = work / f"in_{a.workers_planes}.zarr"
    make_store(src, a.workers_planes)
    t1, t2 = workers(src, a.model, 1), workers(src, a.model, 2)
    print(f"\ndask.distributed LocalCluster, {a.workers_planes} planes: 1 worker {t1:.1f} s, "
          f"2 workers {t2:.1f} s (x{t1 / t2:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
