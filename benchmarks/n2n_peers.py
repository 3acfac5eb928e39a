"""Self-supervised training against the peer library CAREamics, at equal wall-clock time.

Realistic static microscopy stacks: for each W2S field (default: held-apart fields, never
used to train anything shipped), a Poisson-Gaussian model (variance = a*x + b, images/255)
is fitted on the real single noisy capture of that field; 4 frames = the clean 400-frame
average, matched to the capture's gain and offset, + independent Gaussian-approximated
noise of that a, b (variance clipped at 0; seeded per field). Score: PSNR (data range 1)
of frame 1 denoised, against that clean image. Every method is called as a user calls it
(no data range given: the engine measures it).

Without training (once per field):
- noisy            frame 1 as it is
- average          the mean of the 4 frames
- pretrained+map   denoise(frame 1, model="auto", sigma=estimate_noise(stack, "auto"))
- gat+bm3d         BM3D after the Anscombe transform of the stack's Poisson-Gaussian fit

Timed, for every budget of --minutes (wall clock around training + denoising frame 1):
- ours-scratch            train_noise2noise(stack, pairs="auto", init=None)
- ours-finetune           the same with init="auto" (fine-tunes the shipped network)
- ours-single-blindspot   frame 1 alone, pairs="blindspot" (Noise2Void)
- ours-single-subsample   frame 1 alone, pairs="subsample" (Neighbor2Neighbor)
- ours-single-finetune    frame 1 alone, pairs="blindspot", init="auto" (the shipped
                          network fine-tuned with the blind-spot loss)
- careamics-n2n           CAREamics Noise2Noise on all ordered frame pairs
- careamics-n2v           CAREamics Noise2Void on the 4 frames
The CAREamics rows run ``careamics_runner.py`` in CAREamics' own Python (see its
docstring for the settings; its imports are not counted in its training budget, its
setup is; the recorded wall time covers everything, subprocess start included). Without
that interpreter the CAREamics rows are skipped, and the output and the JSON say so.
Everything runs on the CPU with --threads torch threads.

Results are written to --json after every method; a rerun skips what is there (--force
recomputes).

    python benchmarks/n2n_peers.py                       # 4 fields, 1, 2 and 5 minutes
    python benchmarks/n2n_peers.py --fields 078_1 --minutes 0.5 --methods ours-scratch careamics-n2n
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, load_json, machine, save_json  # noqa: E402

HERE = Path(__file__).resolve().parent
BASELINES = ["noisy", "average", "pretrained+map", "gat+bm3d"]
TIMED = ["ours-scratch", "ours-finetune", "ours-single-blindspot", "ours-single-subsample",
         "ours-single-finetune",
         "careamics-n2n", "careamics-n2v"]
ALIASES = {"ours-single": ["ours-single-blindspot", "ours-single-subsample",
                           "ours-single-finetune"],
           "careamics": ["careamics-n2n", "careamics-n2v"], "baselines": BASELINES}


def psnr(x, ref) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(x, np.float64) - ref) ** 2)))


def make_field(data: Path, field: str, frames: int, seed: int):
    """(clean, stack, fit): clean /255, the noisy stack, the a, b fitted on the real capture."""
    from skimage import io

    import napari_denoise as nd

    w2s = data / "microscopy" / "W2S"
    clean = io.imread(w2s / "clean" / f"target_avg400_{field}.tif").astype(np.float32) / 255.0
    noisy = io.imread(w2s / "noisy" / f"input_avg1_{field}.tif").astype(np.float32) / 255.0
    from napari_denoise.core.training.data import affine_match

    # the average was rescaled apart from the capture: put it on the capture's scale first,
    # so that the fitted noise has the capture's strength relative to the signal
    clean = affine_match(clean, noisy).astype(np.float32)
    est = nd.estimate_noise(noisy, model="poisson-gaussian")
    a, b = float(est.a), float(est.b)
    sd = np.sqrt(np.clip(a * clean + b, 0.0, None))
    rng = np.random.default_rng(seed)
    noise = sd[None] * rng.standard_normal((frames,) + clean.shape)
    stack = (clean[None] + noise).astype(np.float32)
    return clean, stack, {"a": a, "b": b}


def baseline(method: str, stack: np.ndarray, k: int) -> np.ndarray:
    import napari_denoise as nd

    if method == "noisy":
        return stack[k]
    if method == "average":
        return stack.mean(0)
    if method == "pretrained+map":
        est = nd.estimate_noise(stack, axes="TYX", model="auto")
        return nd.denoise(stack[k], model="auto", sigma=est)
    if method == "gat+bm3d":
        est = nd.estimate_noise(stack, axes="TYX", model="poisson-gaussian")
        return nd.denoise(stack[k], "bm3d", sigma=est)
    raise ValueError(method)


def ours(method: str, stack: np.ndarray, k: int, minutes: float) -> tuple[np.ndarray, dict]:
    import napari_denoise as nd

    if method in ("ours-scratch", "ours-finetune"):
        init = None if method == "ours-scratch" else "auto"
        trained = nd.train_noise2noise(stack, axes="TYX", pairs="auto", init=init,
                                       minutes=minutes, seed=0, device="cpu")
    elif method == "ours-single-finetune":
        trained = nd.train_noise2noise(stack[k], pairs="blindspot", init="auto",
                                       minutes=minutes, seed=0, device="cpu")
    else:
        pairs = method.rsplit("-", 1)[1]
        trained = nd.train_noise2noise(stack[k], pairs=pairs, init=None, minutes=minutes,
                                       seed=0, device="cpu")
    out = nd.denoise(stack[k], model=trained, device="cpu")
    metrics = (trained.card or {}).get("metrics") or {}
    info = {k: metrics[k] for k in ("steps", "best_step", "pairs", "seconds") if k in metrics}
    if "seconds" in info:
        info["train_seconds"] = info.pop("seconds")
    return out, info


def careamics(method: str, stack: np.ndarray, k: int, minutes: float, python: str,
              threads: int) -> tuple[np.ndarray, dict]:
    mode = method.split("-")[1]
    with tempfile.TemporaryDirectory(prefix="n2n_peers_") as tmp:
        inp, outp = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, stack=stack)
        cmd = [python, str(HERE / "careamics_runner.py"), "--input", str(inp), "--mode", mode,
               "--seconds", str(60 * minutes), "--frame", str(k), "--threads", str(threads),
               "--output", str(outp)]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0 or not outp.exists():
            raise RuntimeError(f"careamics_runner.py exited {r.returncode}:\n{r.stderr[-2000:]}")
        d = np.load(outp)
        out = d["denoised"]
        keys = ("steps", "epochs", "train_seconds", "import_seconds", "careamics_version")
        info = {key: d[key].item() for key in keys if key in d.files}
        info["log"] = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    return out, info


def table(report: dict, fields: list[str], rows: list[str]) -> str:
    lines = ["| method | " + " | ".join(fields) + " | mean | wall s (mean) |",
             "|---|" + "---:|" * (len(fields) + 2)]
    for row in rows:
        cells, vals, secs = [], [], []
        for f in fields:
            e = report.get(f, {}).get(row)
            if e is None:
                cells.append("")
            elif "psnr" in e:
                cells.append(f"{e['psnr']:.2f}")
                vals.append(e["psnr"])
                secs.append(e.get("seconds", np.nan))
            else:
                cells.append("skipped" if "skipped" in e else "error")
        if not any(cells):
            continue
        mean = f"{np.mean(vals):.2f}" if len(vals) == len(fields) else ""
        sec = f"{np.nanmean(secs):.0f}" if secs else ""
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {mean} | {sec} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--fields", nargs="+", default=["070_0", "074_1", "078_1", "080_2"])
    p.add_argument("--minutes", nargs="+", type=float, default=[1.0, 2.0, 5.0])
    p.add_argument("--methods", nargs="+", default=BASELINES + TIMED,
                   help=f"of {', '.join(BASELINES + TIMED)}; aliases: {', '.join(ALIASES)}")
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--frame", type=int, default=1, help="the frame denoised and scored")
    p.add_argument("--careamics-python", default="/tmp/care/bin/python")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (both libraries)")
    p.add_argument("--json", type=Path, default=HERE / "results" / "n2n_peers.json")
    p.add_argument("--force", action="store_true", help="recompute cached results")
    a = p.parse_args(argv)
    methods = [m for name in a.methods for m in ALIASES.get(name, [name])]
    unknown = [m for m in methods if m not in BASELINES + TIMED]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; choose from {BASELINES + TIMED}")
    import torch

    torch.set_num_threads(a.threads)
    care_ok = Path(a.careamics_python).exists()
    skip_reason = None
    if not care_ok and any(m.startswith("careamics") for m in methods):
        skip_reason = f"CAREamics interpreter {a.careamics_python} not found"
        print(f"CAREamics rows skipped: {skip_reason} (pass --careamics-python)", flush=True)
    doc = load_json(a.json)
    doc["machine"] = machine()
    results = doc.setdefault("results", {})
    print(f"machine: {doc['machine']}\n{a.frames}-frame stacks, frame {a.frame} scored, "
          f"budgets {a.minutes} min\n", flush=True)
    t_all = time.perf_counter()
    for field in a.fields:
        clean, stack, fit = make_field(a.data, field, a.frames, seed=int(field.replace("_", "")))
        res = results.setdefault(field, {})
        res["noise_fit"] = fit
        print(f"{field}: fitted variance {fit['a']:.4g}*x + {fit['b']:.3g} (images/255)",
              flush=True)
        jobs = [(m, m, None) for m in methods if m in BASELINES]
        jobs += [(f"{m}@{mins:g}min", m, mins) for mins in a.minutes for m in methods if m in TIMED]
        for key, m, mins in jobs:
            old = res.get(key, {})
            if not a.force and ("psnr" in old or ("skipped" in old and not care_ok)):
                print(f"  {key:32s} cached {old.get('psnr', 'skipped')}", flush=True)
                continue
            if m.startswith("careamics") and not care_ok:
                res[key] = {"skipped": skip_reason}
                save_json(a.json, doc)
                continue
            t = time.perf_counter()
            try:
                if mins is None:
                    out, info = baseline(m, stack, a.frame), {}
                elif m.startswith("ours"):
                    out, info = ours(m, stack, a.frame, mins)
                else:
                    out, info = careamics(m, stack, a.frame, mins, a.careamics_python, a.threads)
                entry = {"psnr": psnr(out, clean), "seconds": time.perf_counter() - t, **info}
                if mins is not None:
                    entry["budget_seconds"] = 60 * mins
                msg = f"{entry['psnr']:.2f} dB, {entry['seconds']:.0f} s wall"
                if "steps" in info:
                    msg += f", {info['steps']} steps"
            except Exception as exc:  # a benchmark: record and show the failure, go on
                entry = {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()[-3000:],
                         "seconds": time.perf_counter() - t}
                msg = f"ERROR {entry['error']}"
            res[key] = entry
            save_json(a.json, doc)
            print(f"  {key:32s} {msg}", flush=True)
    rows = [m for m in BASELINES if m in methods]
    rows += [f"{m}@{mins:g}min" for mins in a.minutes for m in TIMED if m in methods]
    print(f"\nPSNR (dB) of frame {a.frame}; wall s: training + denoising, mean over fields\n")
    print(table(results, a.fields, rows))
    if skip_reason:
        print(f"\nCAREamics rows skipped: {skip_reason}")
    print(f"\ntotal time {time.perf_counter() - t_all:.0f} s; results in {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
