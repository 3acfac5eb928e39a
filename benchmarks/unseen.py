"""Natural gray images nobody trained or tuned on: scikit-image's bundled photos.

Not in ../shared (the camera image is left out: it is Set12's cameraman). Each photo
is converted to gray, centre-cropped to at most 384x384 and scaled to [0, 1]; noise,
scoring and sigmas follow ../shared/BENCHMARK.md (unclipped Gaussian noise from
default_rng(i), output clipped and rounded to 1/255, mean per-image PSNR). Every method
gets the true sigma; BM3D runs on the same images in the same process.

    python benchmarks/unseen.py --methods drunet_gray ffdnet_gray bm3d

A method may carry options: ``drunet_gray@best`` (x8 self-ensemble), ``@fp32``, ``@bf16``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (load_json, machine, method_spec, noisy_version,  # noqa: E402
                    parse_with_threads, save_json, score)

RESULTS = Path(__file__).resolve().parent / "results" / "unseen.json"
PHOTOS = ("astronaut", "brick", "cat", "clock", "coffee", "coins", "grass", "gravel",
          "hubble_deep_field", "immunohistochemistry", "moon", "page", "rocket", "text")
SIGMAS = (15, 25, 50)


def photos() -> list[tuple[str, np.ndarray]]:
    from skimage import color, data

    out = []
    for name in PHOTOS:
        im = getattr(data, name)()
        if im.ndim == 3:
            im = (color.rgb2gray(im[..., :3]) * 255).round()
        h, w = im.shape
        s = min(384, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out.append((name, np.asarray(im[y:y + s, x:x + s], np.float64) / 255.0))
    return out


def run(method: str, sigma: int) -> dict:
    import napari_denoise as nd

    name, kw = method_spec(method)
    psnrs, ssims, secs = [], [], 0.0
    for i, (_, clean) in enumerate(photos()):
        noisy = noisy_version(clean, sigma, i).astype(np.float32)
        t = time.perf_counter()
        out = nd.denoise(noisy, name, sigma=sigma / 255.0, data_range=(0.0, 1.0),
                         device="cpu", noise="gaussian", **kw)
        secs += time.perf_counter() - t
        p, s = score(out, clean)
        psnrs.append(p)
        ssims.append(s)
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "seconds": secs,
            "per_image": psnrs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=["ffdnet_gray", "bm3d"])
    a = parse_with_threads(p, argv)
    res = load_json(RESULTS)
    for m in a.methods:
        for sg in SIGMAS:
            key = f"{m}|{sg}"
            if key in res and not a.force:
                continue
            res[key] = run(m, sg)
            res["machine"] = machine()
            save_json(RESULTS, res)
            print(f"{m} sigma {sg}: {res[key]['psnr']:.2f} dB, SSIM {res[key]['ssim']:.4f}",
                  flush=True)
    methods = sorted({k.split("|")[0] for k in res if "|" in k})
    print(f"\n{len(PHOTOS)} scikit-image photos, gray, <= 384x384 | PSNR (dB) / SSIM at sigma "
          + " / ".join(map(str, SIGMAS)))
    print("| method | " + " | ".join(f"sigma {s}" for s in SIGMAS) + " |")
    print("|---|" + "---|" * len(SIGMAS))
    for m in methods:
        cells = [f"{res[f'{m}|{s}']['psnr']:.2f} / {res[f'{m}|{s}']['ssim']:.4f}"
                 if f"{m}|{s}" in res else "" for s in SIGMAS]
        print(f"| {m} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
