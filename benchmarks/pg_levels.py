"""Camera (Poisson-Gaussian) noise across its strength: which network the automatic
route should run, on images no model trained on.

Clean images: 400-frame averages of held-apart W2S fields (066-080, one channel each)
and scikit-image photos (not Set12's cameraman), each scaled to [0, 1] and put on a
12-bit camera scale (x 4000 + 100 offset, float32). Noise: variance = a * signal + b
with the gain a (in [0, 1] units of the image) swept from a quiet camera to W2S-like
shot noise, b = 0.02 * a. Every method runs as a user runs it: the noise estimated
from the image (``noise="auto"``), the per-pixel map built by the engine; PSNR on the
[0, 1] image (range of the clean image).

    python benchmarks/pg_levels.py                       # drunet_microscopy, drunet_gray, auto
    python benchmarks/pg_levels.py --methods auto --gains 0.001 0.03
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "pg_levels.json"
PHOTOS = ("astronaut", "coffee", "brick", "moon")
W2S_FIELDS = ("066_0", "070_1", "074_2", "078_1")
SCALE, OFFSET = 4000.0, 100.0


def clean_images(root: Path, side: int = 256) -> list[tuple[str, np.ndarray]]:
    from skimage import color, data, io

    out = []
    for f in W2S_FIELDS:
        im = io.imread(root / "microscopy" / "W2S" / "clean" / f"target_avg400_{f}.tif")
        im = np.asarray(im, np.float64)[:side, :side]
        out.append((f"w2s_{f}", (im - im.min()) / max(np.ptp(im), 1e-12)))
    for name in PHOTOS:
        im = getattr(data, name)()
        if im.ndim == 3:
            im = color.rgb2gray(im[..., :3])
        im = np.asarray(im, np.float64)
        y0, x0 = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
        im = im[y0:y0 + side, x0:x0 + side]
        out.append((name, (im - im.min()) / max(np.ptp(im), 1e-12)))
    return out


def psnr(x, ref) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(x, np.float64) - ref) ** 2)))


def main(argv=None) -> int:
    import napari_denoise as nd

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--methods", nargs="*", default=["drunet_microscopy", "drunet_gray", "auto"])
    p.add_argument("--gains", nargs="*", type=float, default=[0.0005, 0.002, 0.008, 0.03, 0.1])
    p.add_argument("--json", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    print(f"machine: {machine()}")
    images = clean_images(a.data)
    res = {"machine": machine(), "gains": a.gains, "rows": {}}
    for gain in a.gains:
        rows = {m: [] for m in ["input"] + a.methods}
        for i, (name, clean) in enumerate(images):
            rng = np.random.default_rng(1000 + i)
            var = gain * clean + 0.02 * gain
            noisy01 = clean + np.sqrt(var) * rng.standard_normal(clean.shape)
            noisy = (noisy01 * SCALE + OFFSET).astype(np.float32)
            rows["input"].append(psnr(noisy01, clean))
            for m in a.methods:
                out = nd.denoise(noisy, model=m, device="cpu")
                rows[m].append(psnr((np.asarray(out, np.float64) - OFFSET) / SCALE, clean))
        res["rows"][str(gain)] = {m: {"mean": float(np.mean(v)), "w2s": float(np.mean(v[:4])),
                                      "photos": float(np.mean(v[4:])), "each": v}
                                  for m, v in rows.items()}
        line = "  ".join(f"{m} {np.mean(v):.2f} (w2s {np.mean(v[:4]):.2f}, photos "
                         f"{np.mean(v[4:]):.2f})" for m, v in rows.items())
        print(f"gain {gain:g}: {line}", flush=True)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
