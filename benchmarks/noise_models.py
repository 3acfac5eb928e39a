"""Noise models: Poisson-Gaussian estimation accuracy, per-pixel maps vs one sigma, real W2S data.

Three parts (each cached in benchmarks/results/noise_models.json; --force reruns):

``estimation``
    Synthetic Poisson-Gaussian noise ``a * Poisson(x / a) + N(0, b)`` ([0, 1]
    units) on the clean Set12 images over a grid of (a, b): relative error of
    the fitted a and b from one image, and from a 4-frame static stack
    (differences of frames).  Median and fraction of images within 10%.
``maps``
    The same noise on Set12: FFDNet (ffdnet_gray) with the estimated
    Poisson-Gaussian per-pixel map against the same network with one global
    sigma (the estimated Gaussian sigma, and the oracle RMS noise std), plus the
    GAT route (GAT, FFDNet at sigma 1, exact unbiased inverse) and BM3D with and
    without the GAT.  PSNR as in ../shared/BENCHMARK.md (clipped, rounded output).
``w2s``
    Real widefield microscopy (../shared/data/microscopy/W2S, one capture
    against the 400-frame average) on held-apart fields (default 066-080: the
    shipped microscopy model trained on 001-060 and validated on 061-065).
    Affine PSNR / SSIM (least-squares gain and offset of the output onto the
    reference, data range 255) of: the input; BM3D with the estimated Gaussian
    sigma; GAT + BM3D with the estimated Poisson-Gaussian model; FFDNet-gray with
    the estimated map; and the automatic route ``denoise(noisy)`` (estimate ->
    Poisson-Gaussian map -> the microscopy model), with no user input.

    python benchmarks/noise_models.py                    # all parts
    python benchmarks/noise_models.py --parts w2s --fields 71 80
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, load_json, load_set, machine, parse_with_threads, save_json, score  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "noise_models.json"
GRID = [(0.02, 1e-4), (0.01, 1e-3), (0.005, 4e-4), (0.003, 1e-3), (0.001, 1e-3), (0.001, 1e-4),
        (0.0003, 1e-4)]
MAP_CASES = [(0.02, 1e-4), (0.005, 1e-4)]  # strong and moderate signal dependence


def pg_noise(clean: np.ndarray, a: float, b: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return a * rng.poisson(clean / a) + rng.normal(0.0, np.sqrt(b), clean.shape)


# -- estimation ----------------------------------------------------------------

def part_estimation(root: Path) -> dict:
    from napari_denoise.core.noise import estimate_noise

    images = load_set(root, "Set12")
    out = {}
    for a, b in GRID:
        ea, eb, fa, fb, secs = [], [], [], [], 0.0
        for i, (_, clean) in enumerate(images):
            z = pg_noise(clean, a, b, 1000 + i)
            t = time.perf_counter()
            e = estimate_noise(z, model="poisson-gaussian")
            secs += time.perf_counter() - t
            ea.append(e.a / a - 1)
            eb.append(e.b / b - 1)
            stack = np.stack([pg_noise(clean, a, b, 2000 + 10 * i + k) for k in range(4)])
            f = estimate_noise(stack, axes="TYX", model="poisson-gaussian")
            fa.append(f.a / a - 1)
            fb.append(f.b / b - 1)
        ea, eb, fa, fb = (np.abs(np.array(v)) for v in (ea, eb, fa, fb))
        out[f"{a:g}|{b:g}"] = {
            "a": a, "b": b, "n": len(images),
            "single_median_err_a": float(np.median(ea)), "single_median_err_b": float(np.median(eb)),
            "single_within10_a": float(np.mean(ea < 0.1)), "single_within10_b": float(np.mean(eb < 0.1)),
            "frames_median_err_a": float(np.median(fa)), "frames_median_err_b": float(np.median(fb)),
            "frames_within10_a": float(np.mean(fa < 0.1)), "frames_within10_b": float(np.mean(fb < 0.1)),
            "s_per_image": secs / len(images),
        }
        r = out[f"{a:g}|{b:g}"]
        print(f"a={a:g} b={b:g}: single |err a| {r['single_median_err_a']:.3f} |err b| "
              f"{r['single_median_err_b']:.3f}; frames {r['frames_median_err_a']:.3f} / "
              f"{r['frames_median_err_b']:.3f}", flush=True)
    return out


def table_estimation(res: dict) -> str:
    lines = ["| a | b | b / (a * median signal) | one image: median rel. error a / b | within 10% a / b | "
             "4-frame stack: median rel. error a / b | within 10% a / b |",
             "|---|---|---|---|---|---|---|"]
    for r in res.values():
        lines.append(
            f"| {r['a']:g} | {r['b']:g} | {r['b'] / (r['a'] * 0.45):.2f} | "
            f"{100 * r['single_median_err_a']:.1f}% / {100 * r['single_median_err_b']:.1f}% | "
            f"{100 * r['single_within10_a']:.0f}% / {100 * r['single_within10_b']:.0f}% | "
            f"{100 * r['frames_median_err_a']:.1f}% / {100 * r['frames_median_err_b']:.1f}% | "
            f"{100 * r['frames_within10_a']:.0f}% / {100 * r['frames_within10_b']:.0f}% |")
    return "\n".join(lines)


# -- maps vs one sigma ------------------------------------------------------------

def part_maps(root: Path, with_bm3d: bool = True) -> dict:
    import napari_denoise as nd
    from napari_denoise.core.noise import NoiseEstimate, estimate_noise

    images = load_set(root, "Set12")
    out = {}
    for a, b in MAP_CASES:
        rows: dict[str, list[float]] = {}

        def add(name, img, clean):
            rows.setdefault(name, []).append(score(img, clean)[0])

        for i, (_, clean) in enumerate(images):
            z = pg_noise(clean, a, b, 3000 + i).astype(np.float32)
            kw = dict(device="cpu", data_range=(0.0, 1.0))
            add("input", z, clean)
            g = estimate_noise(z).sigma
            add("FFDNet, one sigma: Gaussian estimate", nd.denoise(z, "ffdnet_gray", sigma=g, **kw), clean)
            rms = float(np.sqrt(np.mean(a * clean + b)))
            add("FFDNet, one sigma: oracle RMS noise std", nd.denoise(z, "ffdnet_gray", sigma=rms, **kw), clean)
            est = estimate_noise(z, model="poisson-gaussian")
            add("FFDNet, per-pixel map: estimated a, b",
                nd.denoise(z, "ffdnet_gray", sigma=est, **kw), clean)
            add("FFDNet, per-pixel map: true a, b",
                nd.denoise(z, "ffdnet_gray", sigma=NoiseEstimate.poisson_gaussian(a, b), **kw), clean)
            if with_bm3d:
                add("BM3D, one sigma: Gaussian estimate", nd.denoise(z, "bm3d", sigma=g, **kw), clean)
                add("GAT + BM3D (estimated a, b), exact unbiased inverse",
                    nd.denoise(z, "bm3d", sigma=est, **kw), clean)
            print(f"a={a:g} b={b:g} image {i}: " + ", ".join(f"{k[:22]} {v[-1]:.2f}"
                                                         for k, v in rows.items()), flush=True)
        out[f"{a:g}|{b:g}"] = {"a": a, "b": b, "n": len(images),
                               "psnr": {k: float(np.mean(v)) for k, v in rows.items()}}
    return out


def table_maps(res: dict) -> str:
    cases = list(res.values())
    names = list(cases[0]["psnr"])
    head = " | ".join(f"a={c['a']:g}, b={c['b']:g}" for c in cases)
    lines = [f"| method (Set12, PSNR dB) | {head} |", "|---|" + "---|" * len(cases)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{c['psnr'].get(n, float('nan')):.2f}" for c in cases) + " |")
    return "\n".join(lines)


# -- real W2S ------------------------------------------------------------------

def affine_scores(out: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import structural_similarity

    from napari_denoise.core.training.data import affine_match

    fit = affine_match(out, gt)  # least-squares gain and offset onto the reference
    g = gt.astype(np.float64)
    mse = np.mean((fit - g) ** 2)
    p = 10 * np.log10(255.0**2 / mse)
    ss = structural_similarity(fit, g, data_range=255.0, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False)
    return float(p), float(ss)


def part_w2s(root: Path, fields, methods) -> dict:
    import tifffile

    import napari_denoise as nd
    from napari_denoise.core.noise import estimate_noise

    w2s = root / "microscopy" / "W2S"
    files = [(w2s / "noisy" / f"input_avg1_{f:03d}_{c}.tif", w2s / "clean" / f"target_avg400_{f:03d}_{c}.tif")
             for f in range(fields[0], fields[1] + 1) for c in range(3)]
    files = [p for p in files if p[0].exists()]
    rows: dict[str, list] = {}
    secs: dict[str, float] = {}
    for pn, pt in files:
        noisy = tifffile.imread(pn)
        gt = tifffile.imread(pt)
        runs = {"input (no denoising)": lambda: noisy}
        if "bm3d" in methods:
            def bm3d_gauss():
                return nd.denoise(noisy, "bm3d", sigma=float(estimate_noise(noisy).sigma),
                                  device="cpu")
            runs["BM3D, estimated Gaussian sigma"] = bm3d_gauss
            runs["GAT + BM3D, estimated Poisson-Gaussian"] = lambda: nd.denoise(
                noisy, "bm3d", noise="poisson-gaussian", device="cpu")
        if "ffdnet" in methods:
            runs["FFDNet-gray, estimated Poisson-Gaussian map"] = lambda: nd.denoise(
                noisy, "ffdnet_gray", noise="poisson-gaussian", device="cpu")
        if "auto" in methods:
            from napari_denoise.core.noise_plan import POISSON_MODEL

            runs[f"automatic: denoise(noisy) (estimate, map, {POISSON_MODEL})"] = lambda: nd.denoise(
                noisy, device="cpu")
        for m in methods:  # any other name: that model, estimated Poisson-Gaussian map
            if m not in ("bm3d", "ffdnet", "auto"):
                runs[f"{m}, estimated Poisson-Gaussian map"] = lambda m=m: nd.denoise(
                    noisy, m, noise="poisson-gaussian", device="cpu")
        for name, fn in runs.items():
            t = time.perf_counter()
            out = fn()
            secs[name] = secs.get(name, 0.0) + time.perf_counter() - t
            rows.setdefault(name, []).append(affine_scores(out, gt))
        print(pn.stem + ": " + ", ".join(f"{k[:18]} {v[-1][0]:.2f}" for k, v in rows.items()), flush=True)
    return {name: {"psnr": float(np.mean([r[0] for r in v])), "ssim": float(np.mean([r[1] for r in v])),
                   "s_per_image": secs[name] / len(v), "n": len(v)}
            for name, v in rows.items()}


def table_w2s(res: dict, fields) -> str:
    base = res.get("BM3D, estimated Gaussian sigma", {}).get("psnr")
    lines = [f"| method (W2S fields {fields[0]:03d}-{fields[1]:03d}, all channels) | affine PSNR (dB) | "
             "affine SSIM | vs BM3D, estimated sigma | s / image |", "|---|---|---|---|---|"]
    for name, r in res.items():
        d = f"{r['psnr'] - base:+.2f} dB" if base is not None else "-"
        lines.append(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.3f} | {d} | {r['s_per_image']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--parts", nargs="*", default=["estimation", "maps", "w2s"])
    p.add_argument("--fields", nargs=2, type=int, default=[66, 80])
    p.add_argument("--w2s-methods", nargs="*", default=["bm3d", "ffdnet", "auto"])
    p.add_argument("--no-bm3d-maps", action="store_true", help="skip BM3D in the maps part")
    a = parse_with_threads(p, argv)
    res = load_json(RESULTS)
    for part in a.parts:
        key = part if part != "w2s" else f"w2s|{a.fields[0]}-{a.fields[1]}"
        if key in res and not a.force:
            continue
        t = time.time()
        if part == "estimation":
            res[key] = part_estimation(a.data)
        elif part == "maps":
            res[key] = part_maps(a.data, with_bm3d=not a.no_bm3d_maps)
        elif part == "w2s":
            # merge: rerunning some methods keeps the other methods' rows
            res[key] = {**res.get(key, {}), **part_w2s(a.data, a.fields, a.w2s_methods)}
        else:
            raise SystemExit(f"unknown part {part!r}")
        res[key + "|meta"] = {"machine": machine(), "seconds": time.time() - t}
        save_json(RESULTS, res)
    if "estimation" in res:
        print("\n### Poisson-Gaussian estimation (Set12, synthetic)\n")
        print(table_estimation(res["estimation"]))
    if "maps" in res:
        print("\n### Per-pixel map vs one sigma (Set12, synthetic Poisson-Gaussian)\n")
        print(table_maps(res["maps"]))
    for k in res:
        if k.startswith("w2s|") and not k.endswith("|meta"):
            f = [int(v) for v in k.split("|")[1].split("-")]
            print("\n### Real widefield microscopy (W2S)\n")
            print(table_w2s(res[k], f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
