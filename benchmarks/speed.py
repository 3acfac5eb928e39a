"""Seconds per megapixel on this CPU for every method, as a ratio to BM3D in the same run,
and the cost of tiling on a 1024x1024 image.

    python benchmarks/speed.py                 # 512x512 image, median of --repeats runs
    python benchmarks/speed.py --methods ffdnet_gray dncnn_blind bm3d
    python benchmarks/speed.py --methods drunet_gray drunet_gray@fp32 ffdnet_gray@fp32 bm3d

Speed on shared machines is noisy: each method is timed --repeats times in
alternation with the others and the median is reported; compare ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, method_spec  # noqa: E402


def test_image(side: int, sigma: float = 25, seed: int = 0) -> np.ndarray:
    from skimage import data, transform

    clean = transform.resize(data.camera().astype(np.float32) / 255, (side, side), order=1)
    rng = np.random.default_rng(seed)
    return np.clip(np.rint((clean + rng.normal(0, sigma / 255, clean.shape)) * 255), 0, 255).astype(np.uint8)


def time_once(img, method, **kw) -> float:
    import napari_denoise as nd

    name, opts = method_spec(method)  # "drunet_gray@fp32": options after @
    t = time.perf_counter()
    nd.denoise(img, name, sigma=25, device="cpu", **opts, **kw)
    return time.perf_counter() - t


def main(argv=None) -> int:
    import napari_denoise as nd
    import torch

    names = [m["name"] for m in nd.list_models() if m["kind"] != "user"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="*", default=names)
    p.add_argument("--side", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tile-side", type=int, default=1024, help="image side for the tiling test")
    p.add_argument("--tile", type=int, default=512, help="tile for the tiling test")
    a = p.parse_args(argv)
    print(f"machine: {machine()}")
    img = test_image(a.side)
    mp = img.size / 1e6
    for m in a.methods:  # warm-up: model loading, first-call allocations
        time_once(img[:64, :64], m)
    times = {m: [] for m in a.methods}
    for _ in range(a.repeats):
        for m in a.methods:
            times[m].append(time_once(img, m, tile=4096))
    ref = statistics.median(times["bm3d"]) if "bm3d" in times else None
    print(f"\n{a.side}x{a.side} uint8, sigma 25, median of {a.repeats}\n")
    print("| method | s / megapixel | speed-up over BM3D (same run) |")
    print("|---|---|---|")
    for m in a.methods:
        med = statistics.median(times[m])
        ratio = f"{ref / med:.1f}x" if ref else "-"
        print(f"| {m} | {med / mp:.2f} | {ratio} |")

    # tiling overhead
    big = test_image(a.tile_side, seed=1)
    nets = [m for m in a.methods if m in ("ffdnet_gray", "dncnn_blind")]
    print(f"\ntiling cost on {a.tile_side}x{a.tile_side}, tile {a.tile}, median of {a.repeats}\n")
    print("| method | untiled (s) | tiled (s) | tiles | cost of tiling |")
    print("|---|---|---|---|---|")
    from napari_denoise.core.inference import denoise_iter, run_to_end

    for m in nets:
        un, ti = [], []
        tiles = 0
        for _ in range(a.repeats):
            un.append(time_once(big, m, tile=4096))
            t = time.perf_counter()
            res = run_to_end(denoise_iter(big, m, sigma=25, device="cpu", tile=a.tile))
            ti.append(time.perf_counter() - t)
            tiles = res.info["tiles"]
        u, t_ = statistics.median(un), statistics.median(ti)
        print(f"| {m} | {u:.2f} | {t_:.2f} | {tiles} | {100 * (t_ / u - 1):+.1f}% |")
    print(f"\ntorch threads: {torch.get_num_threads()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
