"""Does the ground-truth-free score rank methods and strengths as the truth does?

On real widefield microscopy (W2S fields held apart from all training, single
captures, one channel each), every method x strength is scored by ``nd.score``
(Noise2Self's self-supervised error, central 256x256 crop, one noise estimate per
image shared by all runs) and by its true affine PSNR against the 400-frame average
on the same crop (gain and offset fitted, as the W2S protocol does). Reported:

- the Spearman rank correlation between -score and PSNR over all pairs, per image;
- how far the pair ``nd.tune`` picks falls below the best pair (the oracle);
- for the default network alone, the strength tuning against strength 1.

    python benchmarks/score.py                       # fields 66-75, channel 0
    python benchmarks/score.py --fields 66 80 --channels 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

METHODS = ["drunet_microscopy", "drunet_gray", "bm3d", "nlm", "tv"]
STRENGTHS = [0.5, 0.75, 1.0, 1.5, 2.0]


def affine_psnr(out: np.ndarray, clean: np.ndarray) -> float:
    from napari_denoise.core.training.data import affine_match

    fit = affine_match(out, clean)
    return float(10 * np.log10(1.0 / np.mean((fit - clean) ** 2)))


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main(argv=None) -> int:
    import tifffile

    import napari_denoise as nd
    from napari_denoise.core.score import representative_plane

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared/data"))
    p.add_argument("--fields", type=int, nargs=2, default=[66, 75])
    p.add_argument("--channels", type=int, nargs="*", default=[0])
    p.add_argument("--methods", nargs="*", default=METHODS)
    p.add_argument("--strengths", type=float, nargs="*", default=STRENGTHS)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results/score.json"))
    a = p.parse_args(argv)
    root = Path(a.data) / "microscopy/W2S"
    print(f"machine: {machine()}")
    rows, per_image = [], []
    t0 = time.perf_counter()
    for f in range(a.fields[0], a.fields[1] + 1):
        for c in a.channels:
            noisy = tifffile.imread(root / "noisy" / f"input_avg1_{f:03d}_{c}.tif")
            clean = tifffile.imread(root / "clean" / f"target_avg400_{f:03d}_{c}.tif")
            crop, _ = representative_plane(noisy)
            ref, _ = representative_plane(clean.astype(np.float32) / 255)
            est = nd.estimate_noise(crop, model="auto")
            tuned = nd.tune(crop, a.methods, a.strengths, sigma=est, crop=None)
            res = [(s.model, s.strength, s.loss, affine_psnr(s.output / 255, ref))
                   for s in tuned.scores]
            # "auto" switches to the microscopy model; name what ran
            r = spearman([-x[2] for x in res], [x[3] for x in res])
            best = max(res, key=lambda x: x[3])
            pick = res[0]  # tuned.scores is sorted by the score
            net = [x for x in res if x[0] == METHODS[0]]
            net_pick = min(net, key=lambda x: x[2]) if net else None
            net_one = next((x for x in net if x[1] == 1.0), None)
            per_image.append({
                "field": f, "channel": c, "noise": str(est), "spearman": r,
                "oracle": best[:2] + (best[3],), "tuned": pick[:2] + (pick[3],),
                "gap_db": best[3] - pick[3],
                "default_tuned_db": net_pick[3] if net_pick else None,
                "default_strength1_db": net_one[3] if net_one else None,
                "default_best_db": max(x[3] for x in net) if net else None})
            rows += [{"field": f, "channel": c, "model": m, "strength": s, "score": lo,
                      "psnr": ps} for m, s, lo, ps in res]
            print(f"field {f:03d} ch {c}: Spearman {r:.3f}; tuned {pick[0]}@{pick[1]:g} "
                  f"{pick[3]:.2f} dB, oracle {best[0]}@{best[1]:g} {best[3]:.2f} dB "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    rs = np.array([x["spearman"] for x in per_image])
    gaps = np.array([x["gap_db"] for x in per_image])
    print(f"\n{len(per_image)} images, methods {', '.join(a.methods)}, strengths "
          f"{', '.join(f'{s:g}' for s in a.strengths)}\n")
    print("| measure | mean | worst |")
    print("|---|---|---|")
    print(f"| Spearman(-score, affine PSNR) | {rs.mean():.3f} | {rs.min():.3f} |")
    print(f"| tuned pick below the oracle (dB) | {gaps.mean():.3f} | {gaps.max():.3f} |")
    if per_image[0]["default_tuned_db"] is not None:
        d = np.array([[x["default_tuned_db"], x["default_strength1_db"], x["default_best_db"]]
                      for x in per_image], float)
        print(f"| {METHODS[0]}: tuned strength minus strength 1 (dB) | "
              f"{np.mean(d[:, 0] - d[:, 1]):+.3f} | {np.min(d[:, 0] - d[:, 1]):+.3f} |")
        print(f"| {METHODS[0]}: tuned strength below its best strength (dB) | "
              f"{np.mean(d[:, 2] - d[:, 0]):.3f} | {np.max(d[:, 2] - d[:, 0]):.3f} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"machine": machine(), "images": per_image, "rows": rows},
                                      indent=1))
    print(f"\nwall {time.perf_counter() - t0:.0f} s; details in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
