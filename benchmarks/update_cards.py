"""Write measured metrics into the shipped model cards (weights/*.json).

- ``metrics.<set>.sigma<N>``: PSNR/SSIM from benchmarks/results/quality.json
  (run benchmarks/quality.py first);
- ``metrics.regression``: PSNR on a fixed crop of skimage's camera image with
  seeded Gaussian noise, which tests/test_weights.py reproduces within 0.05 dB.

    python benchmarks/update_cards.py                       # every shipped card
    python benchmarks/update_cards.py drunet_microscopy     # only these
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def regression_case():
    """The fixed image the regression test uses (kept in sync with tests/test_weights.py)."""
    from skimage import data

    clean = data.camera()[64:320, 128:384].astype(np.float64) / 255
    rng = np.random.default_rng(2024)
    noisy = (clean + rng.standard_normal(clean.shape) * 25 / 255).astype(np.float32)
    return clean, noisy, 25


def regression_psnr(name: str, precision: str = "fp32") -> float:
    """PSNR of ``name`` on the regression image (the card's value is in fp32)."""
    import napari_denoise as nd

    clean, noisy, sigma = regression_case()
    out = nd.denoise(noisy, name, sigma=sigma / 255, device="cpu", data_range=(0.0, 1.0),
                     precision=precision)
    out = np.round(np.clip(out, 0, 1) * 255) / 255
    return float(10 * np.log10(1 / np.mean((out - clean) ** 2)))


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv=None) -> int:
    from quality import load_all

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="shipped model names (default: every card)")
    only = set(ap.parse_args(argv).models)
    shipped = {json.loads(p.read_text())["name"] for p in (ROOT / "weights").glob("*.json")}
    if only - shipped:
        ap.error(f"no card in weights/ for: {', '.join(sorted(only - shipped))} "
                 f"(cards: {', '.join(sorted(shipped))})")
    res = load_all()
    for card_path in sorted((ROOT / "weights").glob("*.json")):
        card = json.loads(card_path.read_text())
        name = card["name"]
        if only and name not in only:
            continue
        metrics = {}
        for key, v in sorted(res.items()):
            m, s, sg = key.split("|")
            if m == name:
                metrics.setdefault(s, {})[f"sigma{sg}"] = {"psnr": round(v["psnr"], 3),
                                                           "ssim": round(v["ssim"], 4)}
        metrics["protocol"] = "../shared/BENCHMARK.md: unclipped Gaussian noise, default_rng(i), " \
                              "output clipped and rounded to 1/255, mean per-image PSNR"
        gen = _load(ROOT / "benchmarks" / "results" / "generalisation.json")
        curve = {k.split("|")[2]: round(v, 3) for k, v in gen.items()
                 if k.startswith(name + "|Set12|")}
        if curve:
            metrics["generalisation_set12"] = {"psnr_by_sigma": dict(sorted(curve.items(), key=lambda kv: int(kv[0]))),
                                               "command": "python benchmarks/generalisation.py"}
        nm = _load(ROOT / "benchmarks" / "results" / "noise_models.json")
        if card.get("noise_model") == "poisson-gaussian":
            for key, rows in nm.items():
                if key.startswith("w2s|") and not key.endswith("|meta"):
                    auto = [v for k, v in rows.items() if k.startswith("automatic")
                            and k.endswith(f", {name})") or k.startswith(f"{name}, ")]
                    bm3d = rows.get("BM3D, estimated Gaussian sigma")
                    if auto:
                        metrics[f"w2s_fields_{key.split('|')[1]}"] = {
                            "affine_psnr": round(auto[0]["psnr"], 3),
                            "affine_ssim": round(auto[0]["ssim"], 4),
                            "bm3d_estimated_sigma_affine_psnr": round(bm3d["psnr"], 3) if bm3d else None,
                            "route": "denoise(noisy): Poisson-Gaussian estimate, per-pixel map",
                            "command": "python benchmarks/noise_models.py --parts w2s"}
        unseen = _load(ROOT / "benchmarks" / "results" / "unseen.json")
        rows = {k.split("|")[1]: v for k, v in unseen.items() if k.startswith(name + "|")}
        if rows:
            metrics["unseen_skimage_photos"] = {
                f"sigma{sg}": {"psnr": round(v["psnr"], 3), "ssim": round(v["ssim"], 4)}
                for sg, v in sorted(rows.items(), key=lambda kv: int(kv[0]))}
            metrics["unseen_skimage_photos"]["command"] = "python benchmarks/unseen.py"
        metrics["regression"] = {"image": "skimage camera()[64:320, 128:384], noise "
                                          "default_rng(2024) sigma 25, unclipped",
                                 "psnr": round(regression_psnr(name), 3)}
        card["metrics"] = metrics
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"{card_path.name}: {json.dumps(metrics)[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
