"""Noise-level generalisation curve: PSNR against sigma 5..100 for blind networks.

The bias-free DnCNN (dncnn_biasfree, trained on sigma 0-25 only) against the
ordinary blind DnCNN-B (dncnn_blind, trained on sigma 0-55), and FFDNet given
the true sigma, on Set12 (or --set BSD68) with the protocol of
../shared/BENCHMARK.md (unclipped Gaussian noise from default_rng(i), output
clipped and rounded). Cached in benchmarks/results/generalisation.json.

    python benchmarks/generalisation.py
    python benchmarks/generalisation.py --set BSD68 --sigmas 25 50
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, load_json, load_set, machine, parse_with_threads, noisy_version, save_json, score  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "generalisation.json"
SIGMAS = (5, 10, 15, 25, 35, 50, 65, 75, 100)
MODELS = ("dncnn_biasfree", "dncnn_blind", "ffdnet_gray")


def run(model: str, set_name: str, sigma: int, root: Path) -> float:
    import napari_denoise as nd

    ps = []
    for i, (_, clean) in enumerate(load_set(root, set_name)):
        noisy = noisy_version(clean, sigma, i).astype(np.float32)
        out = nd.denoise(noisy, model, sigma=sigma / 255.0, noise="gaussian", device="cpu",
                         data_range=(0.0, 1.0))
        ps.append(score(out, clean)[0])
    return float(np.mean(ps))


def table(res: dict, set_name: str, sigmas) -> str:
    lines = ["| model (training range) | " + " | ".join(f"sigma {s}" for s in sigmas) + " |",
             "|---|" + "---|" * len(sigmas)]
    labels = {"dncnn_biasfree": "bias-free DnCNN (0-25)", "dncnn_blind": "DnCNN-B (0-55)",
              "ffdnet_gray": "FFDNet, true sigma (0-75)"}
    for m in MODELS:
        vals = [res.get(f"{m}|{set_name}|{s}") for s in sigmas]
        lines.append(f"| {labels[m]} | " + " | ".join(f"{v:.2f}" if v is not None else "-" for v in vals) + " |")
    a = [res.get(f"dncnn_biasfree|{set_name}|{s}") for s in sigmas]
    b = [res.get(f"dncnn_blind|{set_name}|{s}") for s in sigmas]
    lines.append("| bias-free minus DnCNN-B | " + " | ".join(
        f"{x - y:+.2f}" if x is not None and y is not None else "-" for x, y in zip(a, b)) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--set", default="Set12")
    p.add_argument("--sigmas", nargs="*", type=int, default=list(SIGMAS))
    p.add_argument("--models", nargs="*", default=list(MODELS))
    a = parse_with_threads(p, argv)
    res = load_json(RESULTS)
    for m in a.models:
        for s in a.sigmas:
            key = f"{m}|{a.set}|{s}"
            if key in res and not a.force:
                continue
            t = time.time()
            res[key] = run(m, a.set, s, a.data)
            res["machine"] = machine()
            save_json(RESULTS, res)
            print(f"{key}: {res[key]:.2f} dB ({time.time() - t:.0f} s)", flush=True)
    print(table(res, a.set, a.sigmas))
    return 0


if __name__ == "__main__":
    sys.exit(main())
