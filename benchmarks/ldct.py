"""Low-dose CT: float data with a small value range, never tuned for.

The shared LDCT slices (AAPM/Mayo, ../shared/data/medical/LDCT/*.mat) hold a
quarter-dose reconstruction (the noisy input, float32, values 0-0.048) and the
routine-dose one of the same slice (the reference). PSNR and SSIM against the
reference (data range: the reference's max - min) for:

- the input;
- the default, ``denoise(quarter)`` with no argument;
- the old normalisation (float data taken to span [0, 1]), what the default did
  before the range fix, through ``data_range=(0, 1)``;
- BM3D with the estimated Gaussian sigma, and the GAT + BM3D route
  (``noise="poisson-gaussian"``).

Also the output's minimum (a non-negative input must stay non-negative) and the
residual guard's warnings. Results: benchmarks/results/ldct.json.

    python benchmarks/ldct.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, machine, parse_with_threads, save_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "ldct.json"
METHODS = {
    "input": None,
    "default: denoise(quarter)": dict(),
    "before the fix: range taken as [0, 1]": dict(data_range=(0, 1)),
    "BM3D, estimated sigma": dict(model="bm3d"),
    "GAT + BM3D": dict(model="bm3d", noise="poisson-gaussian"),
}


def _score(out, ref):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    r = float(ref.max() - ref.min())
    return (float(peak_signal_noise_ratio(ref, out, data_range=r)),
            float(structural_similarity(ref, out, data_range=r, gaussian_weights=True,
                                        sigma=1.5, use_sample_covariance=False)))


def main(argv=None) -> int:
    from scipy.io import loadmat

    from napari_denoise.core.inference import denoise_iter, run_to_end

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    a = parse_with_threads(p, argv)
    files = sorted((a.data / "medical" / "LDCT").glob("*.mat"))
    if not files:
        raise SystemExit(f"no .mat files in {a.data / 'medical' / 'LDCT'}; pass --data")
    rows = {m: [] for m in METHODS}
    for f in files:
        d = loadmat(f)
        q, ref = d["quarter_dose"].astype(np.float32), d["routine_dose"].astype(np.float32)
        for name, kw in METHODS.items():
            if kw is None:
                out, info, secs = q, {}, 0.0
            else:
                kw = dict(kw)
                t0 = time.perf_counter()
                res = run_to_end(denoise_iter(q, kw.pop("model", "auto"), **kw))
                secs = time.perf_counter() - t0
                out, info = res.image, res.info
            ps, ss = _score(out, ref)
            rows[name].append({"file": f.name, "psnr": ps, "ssim": ss, "min": float(out.min()),
                               "warnings": len(info.get("warnings", [])), "seconds": secs,
                               "model": info.get("model")})
            print(f"{f.name} {name}: {ps:.2f} dB, SSIM {ss:.4f}, min {out.min():.4g}, "
                  f"warnings {len(info.get('warnings', []))}", flush=True)
    summary = {m: {"psnr": float(np.mean([r["psnr"] for r in v])),
                   "ssim": float(np.mean([r["ssim"] for r in v])),
                   "min": float(min(r["min"] for r in v)),
                   "warnings": int(sum(r["warnings"] for r in v))} for m, v in rows.items()}
    save_json(RESULTS, {"machine": machine(), "files": [f.name for f in files],
                        "rows": rows, "summary": summary})
    print("\n| method | PSNR (dB) | SSIM | min of output | guard warnings |\n|---|---|---|---|---|")
    for m, s in summary.items():
        print(f"| {m} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s['min']:.3g} | {s['warnings']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
