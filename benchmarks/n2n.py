"""Noise2Noise on synthetic static stacks: PSNR over CPU training time.

A clean image (default: held-apart W2S widefield fields, 400-frame averages,
never used to train anything shipped) + independent Poisson-Gaussian noise per
frame -> a 4-frame stack. Same network (the default U-Net), same training-time
budget for every strategy:

- n2n-neighbors   Noise2Noise on pairs of frames of the stack (distance "any")
- n2n-others      Noise2Noise against the mean of the other frames (pairs="others")
- subsample       Neighbor2Neighbor on frame 0 alone
- blindspot       Noise2Void on frame 0 alone
- clean-target    supervised: the clean image as target (the upper reference)
- n2n-finetune    Noise2Noise starting from the shipped blind DnCNN

and, without training: the plain average of the 4 frames and BM3D with an
estimated sigma on frame 0. Scores: PSNR (data range 1) of frame 0 denoised.
Training time excludes the evaluations made to draw the curve.

    python benchmarks/n2n.py                       # 2 minutes per strategy
    python benchmarks/n2n.py --minutes 0.5 --fields 078_1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def psnr(x, ref):
    return float(10 * np.log10(1.0 / np.mean((np.asarray(x, np.float64) - ref) ** 2)))


def make_stack(clean, a, b, frames, seed):
    rng = np.random.default_rng(seed)
    sd = np.sqrt(a * clean + b)
    return (clean[None] + sd[None] * rng.standard_normal((frames,) + clean.shape)).astype(np.float32)


def train_curve(stack, clean, minutes, eval_every, **opts):
    """Train with a budget of training seconds; PSNR of frame 0 at intervals."""
    import napari_denoise as nd
    from napari_denoise.core.training.n2n import Noise2NoiseTrainer

    tr = Noise2NoiseTrainer(stack if opts.pop("use_stack", True) else stack[0],
                            minutes=1e6, steps=opts.pop("steps"), **opts)
    gen = tr.run()
    spent, next_eval, curve = 0.0, eval_every, []
    budget = 60 * minutes
    try:
        while spent < budget:
            t = time.perf_counter()
            try:
                next(gen)
            except StopIteration:
                break
            spent += time.perf_counter() - t
            if spent >= next_eval:
                m = tr.best_so_far()
                out = nd.denoise(stack[0], m, device="cpu", data_range=(0.0, 1.0))
                curve.append((round(spent, 1), round(psnr(out, clean), 3), tr.step))
                next_eval += eval_every
    finally:
        gen.close()
    m = tr.best_so_far()
    out = nd.denoise(stack[0], m, device="cpu", data_range=(0.0, 1.0))
    final = psnr(out, clean)
    curve.append((round(spent, 1), round(final, 3), tr.step))
    return final, curve, tr.step


def main(argv=None) -> int:
    import torch
    from skimage import io

    import napari_denoise as nd

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--fields", nargs="*", default=["078_1"])
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--a", type=float, default=0.004, help="Poisson gain (variance a*x + b)")
    p.add_argument("--b", type=float, default=4e-5, help="read-noise variance")
    p.add_argument("--strategies", nargs="*",
                   default=["n2n-neighbors", "clean-target", "subsample", "blindspot"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default="n2n.json", help="results file under benchmarks/results")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"machine: {machine()}\n{a.frames}-frame stacks, variance {a.a}*x + {a.b}, "
          f"{a.minutes} min of training per strategy\n", flush=True)
    report = {}
    for field in a.fields:
        clean = io.imread(a.data / "microscopy/W2S/clean" / f"target_avg400_{field}.tif")
        clean = clean.astype(np.float32) / 255.0
        stack = make_stack(clean, a.a, a.b, a.frames, seed=0)
        res = {"input": psnr(stack[0], clean), "average": psnr(stack.mean(0), clean)}
        t = time.perf_counter()
        sig = float(nd.estimate_noise(stack[0]).sigma)
        out = nd.denoise(stack[0], "bm3d", sigma=sig, data_range=(0.0, 1.0))
        res["bm3d"] = psnr(out, clean)
        res["bm3d_seconds"] = time.perf_counter() - t
        # the noise-model route, no training: GAT + BM3D with the Poisson-Gaussian fit of
        # the stack's frame differences, and the automatic route (microscopy model + map)
        est = nd.estimate_noise(stack, axes="TYX", model="poisson-gaussian")
        res["bm3d-gat"] = psnr(nd.denoise(stack[0], "bm3d", sigma=est, data_range=(0.0, 1.0)), clean)
        res["auto"] = psnr(nd.denoise(stack[0], sigma=est, data_range=(0.0, 1.0)), clean)
        print(f"{field}: input {res['input']:.2f} dB, 4-frame average {res['average']:.2f}, "
              f"BM3D (sigma est. {sig * 255:.1f}/255) {res['bm3d']:.2f}, GAT + BM3D "
              f"(a={est.a:.3g}, b={est.b:.2g}) {res['bm3d-gat']:.2f}, "
              f"denoise(frame, sigma=est) {res['auto']:.2f}", flush=True)
        # steps for the time budget: ~ rate measured on a short probe
        from napari_denoise.core.training.n2n import Noise2NoiseTrainer

        probe = Noise2NoiseTrainer(stack, pairs="neighbors", distance="any", steps=8, seed=1)
        g = probe.run()
        for _ in g:
            pass
        rate = probe.seconds / 8
        n_steps = max(50, int(60 * a.minutes / rate))
        curves = {}
        for strat in a.strategies:
            opts = dict(steps=n_steps, seed=0)
            if strat == "n2n-neighbors":
                opts.update(pairs="neighbors", distance="any")
            elif strat == "n2n-others":
                opts.update(pairs="others")
            elif strat == "clean-target":
                opts.update(pairs="two", target=np.broadcast_to(clean, stack.shape).copy(),
                            swap_captures=False)
            elif strat == "subsample":
                opts.update(pairs="subsample", use_stack=False)
            elif strat == "blindspot":
                opts.update(pairs="blindspot", use_stack=False)
            elif strat == "n2n-finetune":
                opts.update(pairs="neighbors", distance="any", init="dncnn_blind",
                            steps=max(20, n_steps // 6))
            final, curve, nsteps = train_curve(stack, clean, a.minutes, 20.0, **opts)
            res[strat] = final
            curves[strat] = curve
            print(f"  {strat:14s} {final:.2f} dB after {curve[-1][0]:.0f} s, {nsteps} steps "
                  f"(curve: {' '.join(f'{s:.0f}s:{p:.2f}' for s, p, _ in curve)})", flush=True)
        res["curves"] = curves
        report[field] = res
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / a.json).write_text(json.dumps(report, indent=1))
    keys = ["input", "average", "bm3d", "bm3d-gat", "auto"] + a.strategies
    print("\n| field | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for field, r in report.items():
        print(f"| {field} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    mean = {k: np.mean([r[k] for r in report.values()]) for k in keys}
    print("| mean | " + " | ".join(f"{mean[k]:.2f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
