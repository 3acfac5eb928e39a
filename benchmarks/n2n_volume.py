"""Self-training on volumes with thick slices: 3-D Noise2Noise shaped by the voxel size,
against a cubic 3-D network, the 2-D default on the planes and the pretrained route, at
equal wall-clock time.

The volumes are synthetic (no 3-D clean truth ships in ../shared): a cell-like scene is
drawn on a fine isotropic grid (0.1 um voxels): nuclei (textured ellipsoids), filaments
(smooth random 3-D curves) and a dim cytoplasm; blurred by a Gaussian PSF three times
as long in Z as wide (sigma 0.25 um Z, 0.08 um in-plane); then every --steps-th plane is
kept, so the voxels are 0.1 x 0.1 x (0.1 * step) um. Four captures of that volume with
camera noise (Poisson photons, peak --photons, gain 2 ADU/e, offset 100, read noise
3 ADU, uint16); capture 1 is denoised and scored (PSNR against the noise-free volume in
ADU, data range = its max - min).

Methods (every one called as a user calls it, wall clock around training + denoising):
- noisy, average (of the 4 captures), pretrained (denoise(model="auto") of capture 1:
  the shipped network on every plane with its noise map, the noise estimated on that
  volume alone), pretrained+stack-fit (the same with sigma=estimate_noise(captures,
  axes="TZYX", model="auto"): fitted on the differences of the captures, as training
  fits it), pretrained+gaussian (the same with a Gaussian estimate of the captures:
  what the automatic model chose for these sparse scenes before 2026-12-02)
- 3d-voxel   train_noise2noise(captures, axes="TZYX", dims=3, voxel_size=...): patches
             as deep in microns as wide, the U-Net pooling thick slices in-plane first
- 3d-cubic   the same without voxel_size (cubic patches and pooling, as before)
- 2d-default train_noise2noise(captures, axes="TZYX"): 2-D, pairs and network chosen
             by the trainer (fine-tunes the shipped network on the planes)

    python benchmarks/n2n_volume.py                      # steps 4 and 2, 2 and 5 minutes
    python benchmarks/n2n_volume.py --steps 4 --minutes 1 --methods 3d-voxel 3d-cubic
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_json, machine, save_json  # noqa: E402

from napari_denoise._sample_data import cell_phantom as phantom  # noqa: E402

HERE = Path(__file__).resolve().parent
BASELINES = ["noisy", "average", "pretrained", "pretrained+stack-fit", "pretrained+gaussian"]
TIMED = ["3d-voxel", "3d-cubic", "2d-default"]
PIXEL = 0.1  # um, in-plane and the fine grid's Z


def make_volume(step: int, photons: float, frames: int, seed: int):
    """(clean ADU, captures uint16 (T, Z, Y, X), voxel size um)."""
    fine = phantom(seed=seed)
    sub = fine[step // 2::step]
    gain, offset, read = 2.0, 100.0, 3.0
    lam = 1.0 + photons * sub  # 1 photon of background
    rng = np.random.default_rng(seed + 1)
    caps = offset + gain * rng.poisson(lam[None].repeat(frames, 0)) + \
        read * rng.standard_normal((frames,) + sub.shape)
    caps = np.clip(np.rint(caps), 0, 65535).astype(np.uint16)
    clean = (offset + gain * lam).astype(np.float32)
    return clean, caps, (PIXEL * step, PIXEL, PIXEL)


def psnr(x, ref) -> float:
    rng_ = float(ref.max() - ref.min())
    mse = np.mean((np.asarray(x, np.float64) - ref) ** 2)
    return float(10 * np.log10(rng_ ** 2 / mse))


def run(method: str, caps, voxel, k: int, minutes: float | None):
    import napari_denoise as nd

    if method == "noisy":
        return caps[k], {}
    if method == "average":
        return caps.mean(0), {}
    if method == "pretrained":
        return nd.denoise(caps[k], model="auto", axes="ZYX", device="cpu"), {}
    if method in ("pretrained+stack-fit", "pretrained+gaussian"):
        est = nd.estimate_noise(caps, axes="TZYX",
                                model="auto" if method.endswith("fit") else "gaussian")
        out = nd.denoise(caps[k], model="auto", sigma=est, axes="ZYX", device="cpu")
        return out, {"noise": str(est)}
    kw = dict(axes="TZYX", pairs="auto", minutes=minutes, seed=0, device="cpu")
    if method == "3d-voxel":
        trained = nd.train_noise2noise(caps, dims=3, voxel_size=voxel, **kw)
    elif method == "3d-cubic":
        trained = nd.train_noise2noise(caps, dims=3, **kw)
    else:
        trained = nd.train_noise2noise(caps, **kw)
    out = nd.denoise(caps[k], model=trained, axes="ZYX", device="cpu")
    card = trained.card
    m = card.get("metrics") or {}
    info = {"steps": m.get("steps"), "pairs": m.get("pairs"), "train_seconds": m.get("seconds"),
            "patch": card["training"].get("patch"), "arch": card.get("arch"),
            "init": card["training"].get("init")}
    return out, info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", nargs="+", type=int, default=[4, 2],
                   help="Z step in fine planes (= anisotropy of the voxels)")
    p.add_argument("--minutes", nargs="+", type=float, default=[2.0, 5.0])
    p.add_argument("--methods", nargs="+", default=BASELINES + TIMED)
    p.add_argument("--photons", type=float, default=30.0)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--frame", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=HERE / "results" / "n2n_volume.json")
    p.add_argument("--force", action="store_true")
    a = p.parse_args(argv)
    bad = [m for m in a.methods if m not in BASELINES + TIMED]
    if bad:
        raise SystemExit(f"unknown methods {bad}; choose from {BASELINES + TIMED}")
    import torch

    torch.set_num_threads(a.threads)
    doc = load_json(a.json)
    doc["machine"] = machine()
    results = doc.setdefault("results", {})
    for step in a.steps:
        clean, caps, voxel = make_volume(step, a.photons, a.frames, a.seed)
        vkey = f"step{step}"
        res = results.setdefault(vkey, {})
        res["volume"] = {"shape": list(caps.shape), "voxel_um": list(voxel),
                         "photons": a.photons}
        print(f"{vkey}: captures {caps.shape}, voxels {voxel} um", flush=True)
        jobs = [(m, m, None) for m in a.methods if m in BASELINES]
        jobs += [(f"{m}@{mi:g}min", m, mi) for mi in a.minutes for m in a.methods
                 if m in TIMED]
        for key, m, mi in jobs:
            if not a.force and "psnr" in res.get(key, {}):
                print(f"  {key:20s} cached {res[key]['psnr']:.2f}", flush=True)
                continue
            t = time.perf_counter()
            try:
                out, info = run(m, caps, voxel, a.frame, mi)
                entry = {"psnr": psnr(out, clean), "seconds": time.perf_counter() - t, **info}
                msg = f"{entry['psnr']:.2f} dB, {entry['seconds']:.0f} s"
                if info.get("steps") is not None:
                    msg += f", {info['steps']} steps, patch {info['patch']}"
            except Exception as exc:  # a benchmark: record the failure, go on
                entry = {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()[-3000:]}
                msg = f"ERROR {entry['error']}"
            res[key] = entry
            save_json(a.json, doc)
            print(f"  {key:20s} {msg}", flush=True)
    keys = [m for m in BASELINES if m in a.methods]
    keys += [f"{m}@{mi:g}min" for mi in a.minutes for m in TIMED if m in a.methods]
    cols = [f"step{s}" for s in a.steps]
    print("\n| method | " + " | ".join(f"{c} ({results[c]['volume']['voxel_um'][0]:g} um Z)"
                                        for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for k_ in keys:
        vals = [results[c].get(k_, {}).get("psnr") for c in cols]
        print(f"| {k_} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in vals) + " |")
    print(f"\nmachine: {doc['machine']}; results in {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
