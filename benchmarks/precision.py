"""What bfloat16 and the x8 self-ensemble cost and buy, per shipped network.

PSNR on 20 Train400 images (test_381-400: the validation images of the recipes, not a
test set; the older shipped models saw them in training, which matters little for a
difference between two precisions) at sigma 15 / 25 / 50, protocol of
../shared/BENCHMARK.md, in fp32, in bf16, and with quality="best" (the x8 ensemble in the
precision the model runs by default); speed in seconds per megapixel on a 1024x1024
image. ``--write-cards`` records ``inference: {bf16_psnr_cost_db, ensemble_gain_db}`` in
each card of weights/: bf16 then runs by default on CPUs with native bf16 only where it
costs at most 0.02 dB (napari_denoise.core.precision.BF16_TOLERANCE_DB).

    python benchmarks/precision.py --write-cards
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DEFAULT_DATA, load_json, machine, noisy_version,  # noqa: E402
                    parse_with_threads, save_json, score)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "precision.json"
#: the recipes' validation images (held apart from training), read from the recipe
HELD_APART = json.loads((ROOT / "recipes" / "drunet_gray_stage3.json").read_text())["val_holdout"]
SIGMAS = (15, 25, 50)


def held_apart(root: Path) -> list[np.ndarray]:
    from skimage import io

    d = root / "train" / "Train400"
    return [io.imread(d / f).astype(np.float64) / 255.0 for f in HELD_APART]


def mean_psnr(name: str, images, **kw) -> float:
    import napari_denoise as nd

    out = []
    for sg in SIGMAS:
        for i, clean in enumerate(images):
            noisy = noisy_version(clean, sg, i).astype(np.float32)
            res = nd.denoise(noisy, name, sigma=sg / 255.0, data_range=(0.0, 1.0),
                             device="cpu", noise="gaussian", **kw)
            out.append(score(res, clean)[0])
    return float(np.mean(out))


def seconds_per_mp(name: str, **kw) -> float:
    import napari_denoise as nd

    rng = np.random.default_rng(0)
    img = rng.random((1024, 1024)).astype(np.float32)
    nd.denoise(img[:128, :128], name, sigma=0.1, device="cpu", **kw)  # warm up
    t = time.perf_counter()
    nd.denoise(img, name, sigma=0.1, device="cpu", data_range=(0.0, 1.0), **kw)
    return (time.perf_counter() - t) / (img.size / 1e6)


def measure_psnr(name: str, images) -> dict:
    from napari_denoise.core.precision import BF16_TOLERANCE_DB

    r = {"psnr_fp32": mean_psnr(name, images, precision="fp32"),
         "psnr_bf16": mean_psnr(name, images, precision="bf16")}
    r["bf16_cost_db"] = r["psnr_fp32"] - r["psnr_bf16"]
    prec = "bf16" if r["bf16_cost_db"] <= BF16_TOLERANCE_DB else "fp32"
    r["default_precision"] = prec
    r["psnr_best"] = mean_psnr(name, images, precision=prec, quality="best")
    r["ensemble_gain_db"] = r["psnr_best"] - r[f"psnr_{prec}"]
    return r


def measure_speed(name: str, prec: str) -> dict:
    return {"s_per_mp_fp32": seconds_per_mp(name, precision="fp32"),
            "s_per_mp_bf16": seconds_per_mp(name, precision="bf16"),
            "s_per_mp_best": seconds_per_mp(name, precision=prec, quality="best"),
            "speed_machine": machine()}


def write_cards(res: dict) -> None:
    for name, r in res.items():
        path = ROOT / "weights" / f"{name}.json"
        if not path.exists() or "ensemble_gain_db" not in r:
            continue
        card = json.loads(path.read_text())
        card["inference"] = {  # other records (backends.py's cpu_backend) are kept
            **(card.get("inference") or {}),
            "bf16_psnr_cost_db": round(max(r["bf16_cost_db"], 0.0), 3),
            "ensemble_gain_db": round(r["ensemble_gain_db"], 3),
            "measured": "benchmarks/precision.py: Train400 test_381-400 (held apart), "
                        "sigma 15/25/50, mean PSNR",
        }
        path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"{path.name}: inference = {card['inference']}")


def main(argv=None) -> int:
    import napari_denoise as nd

    names = [m["name"] for m in nd.list_models() if m["kind"] == "pretrained"]
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--models", nargs="*", default=names)
    p.add_argument("--write-cards", action="store_true")
    p.add_argument("--parts", nargs="*", default=["psnr", "speed"],
                   help="psnr (unaffected by other jobs) and/or speed (run on an idle machine)")
    a = parse_with_threads(p, argv)
    res = load_json(RESULTS)
    images = held_apart(a.data) if "psnr" in a.parts else None
    for name in a.models:
        r = res.setdefault(name, {})
        if "psnr" in a.parts and ("psnr_best" not in r or a.force):
            r.update(measure_psnr(name, images))
            save_json(RESULTS, res)
        if "speed" in a.parts and ("s_per_mp_best" not in r or a.force):
            r.update(measure_speed(name, r.get("default_precision", "fp32")))
            save_json(RESULTS, res)
    print(f"20 held-apart Train400 images, sigma {'/'.join(map(str, SIGMAS))} (mean PSNR); "
          f"1024x1024 for speed\n| model | fp32 dB | bf16 cost dB | x8 ensemble gain dB | "
          f"s/MP fp32 | s/MP bf16 | s/MP best | default |\n|---|---|---|---|---|---|---|---|")

    def f(r, k, fmt):
        return format(r[k], fmt) if k in r else "-"
    for name in a.models:
        r = res.get(name, {})
        print(f"| {name} | {f(r, 'psnr_fp32', '.2f')} | {f(r, 'bf16_cost_db', '+.3f')} | "
              f"{f(r, 'ensemble_gain_db', '+.3f')} | {f(r, 's_per_mp_fp32', '.2f')} | "
              f"{f(r, 's_per_mp_bf16', '.2f')} | {f(r, 's_per_mp_best', '.2f')} | "
              f"{r.get('default_precision', '-')} |")
    if a.write_cards:
        write_cards(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
