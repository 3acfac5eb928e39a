"""PSNR per noise level on the 20 Train400 images every gray recipe holds apart from
training (test_381-400): compare training stages without touching a test set.

    python benchmarks/heldapart.py runs/drunet_gray_stage3.safetensors runs/drunet_gray_stage4.safetensors

Noise: Gaussian at sigma 15 / 25 / 50 (0-255 units), default_rng(1000 + i) for image i,
unclipped; output clipped and rounded to 1/255; mean of per-image PSNR. Models are names
or .safetensors files, run with the true sigma in the precision they run by default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIGMAS = (15, 25, 50)


def main(argv=None) -> int:
    import napari_denoise as nd
    from napari_denoise.core.training.data import load_folder

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+",
                    help="shipped model names or .safetensors files (a stage's output)")
    models = ap.parse_args(argv).models
    from napari_denoise.core.errors import ModelNotFoundError
    from napari_denoise.core.models import resolve_denoiser

    for m in models:  # the engine's own lookup (names, aliases, files, user models; cached)
        try:
            resolve_denoiser(m, device="cpu")
        except ModelNotFoundError as exc:
            ap.error(str(exc))
    names = json.loads((ROOT / "recipes" / "drunet_gray_stage3.json").read_text())["val_holdout"]
    imgs = load_folder(ROOT.parent / "shared" / "data" / "train" / "Train400", only=names)
    print("| model | " + " | ".join(f"sigma {s}" for s in SIGMAS) + " | mean |")
    print("|---|" + "---|" * (len(SIGMAS) + 1))
    for m in models:
        row = []
        for s in SIGMAS:
            ps = []
            for i, c in enumerate(imgs):
                noise = np.random.default_rng(1000 + i).standard_normal(c.shape) * s / 255
                out = nd.denoise((c + noise).astype(np.float32), m, sigma=s / 255,
                                 data_range=(0, 1), device="cpu")
                out = np.round(np.clip(out, 0, 1) * 255) / 255
                ps.append(10 * np.log10(1 / np.mean((out - c) ** 2)))
            row.append(float(np.mean(ps)))
        print(f"| {m} | " + " | ".join(f"{v:.3f}" for v in row) + f" | {np.mean(row):.3f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
