"""Every shipped network on the CPU in each backend and arithmetic, side by side in one run:
torch fp32, torch bf16 (autocast), torch int8 (FX static quantisation, where the network
traces), ONNX Runtime fp32 and ONNX Runtime int8 (static QDQ, as the engine builds it).

For each: the weights file size, seconds per megapixel on a 512x512 image (median of
``--repeats`` runs after one warm-up, the variants alternated round by round so that a
change in machine load hits them all alike), the one-time preparation (export to ONNX,
quantisation and calibration; cached on disk afterwards for shipped models) and PSNR
on BSD68 at sigma 25 (protocol of ../shared/BENCHMARK.md, as benchmarks/quality.py; noise
from default_rng(image index)). Results are cached in benchmarks/results/backends.json.

``--write-cards`` records in each card of weights/ what ``backend="auto"`` runs on a CPU
with this one's features (napari_denoise.core.backends): the fastest variant whose PSNR
cost against torch fp32 is at most 0.05 dB (bf16: the card's own measured bf16 cost at most
0.02 dB, as before) and which is at least 5% faster than the default torch path; only from
a full run (all 68 images, all variants timed). Time on an idle machine:

    python benchmarks/backends.py --write-cards
    python benchmarks/backends.py --models drunet_gray --images 2 --repeats 1   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DEFAULT_DATA, load_json, load_set, machine, noisy_version,  # noqa: E402
                    parse_with_threads, save_json, score)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "backends.json"
SIGMA = 25
SIDE = 512
FULL_SET = 68
#: name -> denoise keywords; "torch-int8" runs outside the engine (see torch_int8)
VARIANTS = {
    "torch-fp32": {"backend": "torch", "precision": "fp32"},
    "torch-bf16": {"backend": "torch", "precision": "bf16"},
    "torch-int8": None,
    "onnxruntime-fp32": {"backend": "onnxruntime", "precision": "fp32"},
    "onnxruntime-int8": {"backend": "onnxruntime", "precision": "int8"},
}
SPEEDUP_NEEDED = 0.95  # a variant replaces the default path only when 5% faster


def denoiser(name: str, variant: str):
    """A callable ``f(noisy float32 [0, 1]) -> denoised`` for one variant, or a reason
    (str) why the variant cannot run."""
    import napari_denoise as nd

    kw = VARIANTS[variant]
    if kw is None:
        from torch_int8 import engine_int8

        return engine_int8(name, SIGMA / 255.0)
    if variant == "torch-bf16":
        from napari_denoise.core.precision import cpu_has_bf16

        if not cpu_has_bf16():
            return "this CPU has no native bf16 (slower than fp32 here: not measured)"

    def f(noisy):
        return nd.denoise(noisy, name, sigma=SIGMA / 255.0, data_range=(0.0, 1.0),
                          device="cpu", noise="gaussian", **kw)
    return f


def file_bytes(name: str, variant: str, fn) -> int | None:
    """Bytes of the weights the variant loads: the shipped safetensors file for torch
    (torch int8: its quantised state dict), the exported (and quantised) ONNX graph for
    ONNX Runtime."""
    from napari_denoise.core.registry import pretrained_entries

    entry = pretrained_entries()[name]
    if variant.startswith("torch"):
        return getattr(fn, "nbytes", None) if variant == "torch-int8" else \
            entry.path.stat().st_size
    from napari_denoise.core.export.ort_runner import onnx_bytes
    from napari_denoise.core.models import resolve_denoiser

    den = resolve_denoiser(name, "cpu")
    return len(onnx_bytes(den.impl, den.card, variant.split("-")[1],
                          in_channels=den.in_channels, takes_map=den.takes_map))


def measure_psnr(fn, images) -> float:
    out = []
    for i, (_, clean) in enumerate(images):
        noisy = noisy_version(clean, SIGMA, i).astype(np.float32)
        out.append(score(np.asarray(fn(noisy), np.float64), clean)[0])
    return float(np.mean(out))


def measure_speed(fns: dict, repeats: int) -> dict:
    """variant -> median seconds per megapixel, the variants alternated."""
    img = np.random.default_rng(0).random((SIDE, SIDE)).astype(np.float32)
    runs = {v: [] for v in fns}
    for fn in fns.values():
        fn(img)  # warm-up: sessions, reduced-precision copies, caches
    order = list(fns)
    for r in range(repeats):
        for v in order[r % len(order):] + order[:r % len(order)]:
            t = time.perf_counter()
            fns[v](img)
            runs[v].append((time.perf_counter() - t) / (img.size / 1e6))
    return {v: statistics.median(runs[v]) for v in fns}


def choices(name: str, r: dict) -> dict | None:
    """The card's ``cpu_backend`` record from a full run's results, or None."""
    from napari_denoise.core.backends import INT8_TOLERANCE_DB, cpu_features
    from napari_denoise.core.precision import card_allows_bf16, cpu_has_bf16
    from napari_denoise.core.registry import pretrained_entries

    card = pretrained_entries()[name].card
    runnable = [v for v in VARIANTS if v != "torch-int8"]  # what the engine can run
    if any("s_per_mp" not in r.get(v, {}) or r[v].get("images") != FULL_SET
           for v in runnable if not (v == "torch-bf16" and "skipped" in r.get(v, {}))):
        return None
    ref = r["torch-fp32"]["psnr"]
    cost = {v: ref - r[v]["psnr"] for v in runnable if "psnr" in r.get(v, {})}
    ok = {"torch-fp32": True,
          "torch-bf16": "torch-bf16" in cost and cpu_has_bf16() and card_allows_bf16(card),
          "onnxruntime-fp32": cost.get("onnxruntime-fp32", 1e9) <= INT8_TOLERANCE_DB,
          "onnxruntime-int8": cost.get("onnxruntime-int8", 1e9) <= INT8_TOLERANCE_DB}
    speed = {v: r[v]["s_per_mp"] for v in runnable if ok[v]}

    def pick(candidates, default):
        best = min((v for v in candidates if v in speed), key=speed.get, default=default)
        if best != default and default in speed and speed[best] > SPEEDUP_NEEDED * speed[default]:
            return default
        return best

    default = "torch-bf16" if ok["torch-bf16"] else "torch-fp32"
    return {
        "cpu_features": cpu_features(),
        "choice": {"auto": pick(speed, default),
                   "fp32": pick(["torch-fp32", "onnxruntime-fp32"], "torch-fp32"),
                   "onnxruntime": pick(["onnxruntime-fp32", "onnxruntime-int8"],
                                       "onnxruntime-fp32")},
        "int8_psnr_cost_db": round(cost.get("onnxruntime-int8", float("nan")), 3),
        "s_per_mp": {v: round(r[v]["s_per_mp"], 3) for v in runnable if "s_per_mp" in r[v]},
        "machine": r.get("machine", ""),
        "measured": "benchmarks/backends.py: BSD68 sigma 25 (68 images), 512x512 median",
    }


def write_cards(res: dict, names) -> None:
    for name in names:
        rec = choices(name, res.get(name, {}))
        path = ROOT / "weights" / f"{name}.json"
        if rec is None or not path.exists():
            print(f"{name}: not written (needs a full run: all {FULL_SET} images, all "
                  f"variants timed)")
            continue
        card = json.loads(path.read_text())
        card.setdefault("inference", {})["cpu_backend"] = rec
        path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"{path.name}: cpu_backend choice = {rec['choice']}")


def table(res: dict, names) -> str:
    rows = ["| model | variant | file MB | s/MP | prepare s | PSNR dB | cost dB |",
            "|---|---|---|---|---|---|---|"]
    for name in names:
        r = res.get(name, {})
        ref = r.get("torch-fp32", {}).get("psnr")
        for v in VARIANTS:
            m = r.get(v, {})
            if "skipped" in m:
                rows.append(f"| {name} | {v} | - | - | - | - | {m['skipped']} |")
                continue
            size = f"{m['bytes'] / 1e6:.2f}" if m.get("bytes") else "-"
            sp = f"{m['s_per_mp']:.2f}" if "s_per_mp" in m else "-"
            first = f"{m['prep_s']:.1f}" if "prep_s" in m else "-"
            ps = f"{m['psnr']:.2f}" if "psnr" in m else "-"
            cost = f"{ref - m['psnr']:+.3f}" if "psnr" in m and ref is not None else "-"
            rows.append(f"| {name} | {v} | {size} | {sp} | {first} | {ps} | {cost} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    import napari_denoise as nd

    names = [m["name"] for m in nd.list_models() if m["kind"] == "pretrained"]
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--models", nargs="*", default=names)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--images", type=int, default=FULL_SET,
                   help=f"the first N BSD68 images (default all {FULL_SET})")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per variant")
    p.add_argument("--parts", nargs="*", default=["psnr", "speed"], choices=["psnr", "speed"])
    p.add_argument("--write-cards", action="store_true")
    a = parse_with_threads(p, argv)
    # exported graphs go to a fresh cache: "prepare" includes the export and quantisation
    with tempfile.TemporaryDirectory(prefix="nd-backends-") as cache:
        os.environ["NAPARI_DENOISE_CACHE"] = cache
        return run(a)


def run(a) -> int:
    images = load_set(a.data, "BSD68")[:a.images] if "psnr" in a.parts else []
    res = load_json(RESULTS)
    for name in a.models:
        r = res.setdefault(name, {})
        fns = {}
        for v in a.variants:
            t = time.perf_counter()
            fn = denoiser(name, v)
            if isinstance(fn, str):
                r[v] = {"skipped": fn}
                continue
            fns[v] = fn
            m = r.setdefault(v, {})
            m.pop("skipped", None)
            m["bytes"] = file_bytes(name, v, fn)
            m["prep_s"] = time.perf_counter() - t
            if "psnr" in a.parts and (a.force or m.get("images") != len(images)):
                m.update(psnr=measure_psnr(fn, images), images=len(images))
                save_json(RESULTS, res)
                print(f"{name} {v}: {m['psnr']:.3f} dB on {len(images)} images", flush=True)
        if "speed" in a.parts and fns:
            for v, spm in measure_speed(fns, a.repeats).items():
                r[v].update(s_per_mp=spm, repeats=a.repeats)
            r["machine"] = machine()
            save_json(RESULTS, res)
    print(f"BSD68 sigma {SIGMA} (first {a.images} images), {SIDE}x{SIDE} for speed "
          f"(median of {a.repeats}, alternated); {machine()}\n")
    print(table(res, a.models))
    if a.write_cards:
        write_cards(res, a.models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
