"""PSNR/SSIM of every shipped model and classical method on Set12 and BSD68.

Protocol: ../shared/BENCHMARK.md (unclipped Gaussian noise from default_rng(i),
output clipped and rounded to 1/255, mean of per-image PSNR). Non-blind methods
get the true sigma. Results are cached in benchmarks/results/quality.json so a
slow method (BM3D) runs once; --force recomputes.

    python benchmarks/quality.py                      # everything, prints the table
    python benchmarks/quality.py --methods ffdnet_gray bm3d --sets BSD68
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DEFAULT_DATA, PUBLISHED, load_json, load_set, machine, method_spec,  # noqa: E402
                    noisy_version, save_json, score)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SIGMAS = (15, 25, 50)


def run(method: str, set_name: str, sigma: int, root: Path) -> dict:
    psnrs, ssims, secs, pixels = [], [], 0.0, 0
    for i, (_, clean) in enumerate(load_set(root, set_name)):
        noisy = noisy_version(clean, sigma, i).astype(np.float32)
        t = time.perf_counter()
        out = _denoise(noisy, method, sigma)
        secs += time.perf_counter() - t
        pixels += clean.size
        p, s = score(out, clean)
        psnrs.append(p)
        ssims.append(s)
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)),
            "s_per_mp": secs / (pixels / 1e6), "n": len(psnrs)}


def _denoise(noisy: np.ndarray, method: str, sigma: float) -> np.ndarray:
    """Denoise a [0, 1]-scaled image whose noise pushes values outside [0, 1].

    Without ``data_range`` the engine would map such float data by robust
    percentiles; the protocol's scale is the fixed [0, 1] of the clean image.
    """
    import napari_denoise as nd

    name, kw = method_spec(method)
    return nd.denoise(noisy, name, sigma=sigma / 255.0, device="cpu", data_range=(0.0, 1.0),
                      **kw)


def main(argv=None) -> int:
    import napari_denoise as nd

    names = [m["name"] for m in nd.list_models() if m["kind"] != "user"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--methods", nargs="*", default=names)
    p.add_argument("--sets", nargs="*", default=["Set12", "BSD68"])
    p.add_argument("--sigmas", nargs="*", type=int, default=list(SIGMAS))
    p.add_argument("--force", action="store_true")
    p.add_argument("--tag", default="", help="write results/quality-TAG.json (parallel runs)")
    p.add_argument("--table-only", action="store_true")
    a = p.parse_args(argv)
    out = RESULTS_DIR / (f"quality-{a.tag}.json" if a.tag else "quality.json")
    res = load_all()
    mine = load_json(out)
    for m in a.methods:
        for s in a.sets:
            for sg in a.sigmas:
                key = f"{m}|{s}|{sg}"
                if a.table_only or (key in res and not a.force):
                    continue
                t = time.time()
                res[key] = mine[key] = run(m, s, sg, a.data)
                res[key]["machine"] = machine()
                save_json(out, mine)
                print(f"{key}: {res[key]['psnr']:.2f} dB / {res[key]['ssim']:.4f} "
                      f"({time.time() - t:.0f} s)", flush=True)
    print(table(res, a.methods, a.sets, a.sigmas))
    return 0


def load_all() -> dict:
    """Results of every run (quality.json and quality-*.json), merged."""
    res = {}
    for f in sorted(RESULTS_DIR.glob("quality*.json")):
        res.update(load_json(f))
    return res


def table(res: dict, methods, sets, sigmas) -> str:
    lines = ["| method | " + " | ".join(f"{s} PSNR (SSIM), sigma {'/'.join(map(str, sigmas))}" for s in sets)
             + " | s / MP, CPU |",
             "|---|" + "---|" * len(sets) + "---|"]
    for m in methods:
        cells = []
        times = []
        for s in sets:
            vals = [res.get(f"{m}|{s}|{sg}") for sg in sigmas]
            cells.append(" / ".join(f"{v['psnr']:.2f} ({v['ssim']:.3f})" if v else "-" for v in vals))
            times += [v["s_per_mp"] for v in vals if v]
        t = f"{np.median(times):.2f}" if times else "-"
        lines.append(f"| {m} (measured) | " + " | ".join(cells) + f" | {t} |")
    for pm in ("BM3D", "DnCNN-B", "FFDNet"):
        cells = [" / ".join(f"{PUBLISHED[(pm, s)][SIGMAS.index(sg)]:.2f}" for sg in sigmas)
                 if (pm, s) in PUBLISHED else "-" for s in sets]
        lines.append(f"| {pm} (published) | " + " | ".join(cells) + " | - |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
