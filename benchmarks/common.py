"""Shared helpers for the benchmark scripts: the protocol of ../shared/BENCHMARK.md."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

PUBLISHED = {  # average PSNR, sigma 15 / 25 / 50
    ("BM3D", "Set12"): (32.37, 29.97, 26.72), ("BM3D", "BSD68"): (31.07, 28.57, 25.62),
    ("DnCNN-B", "Set12"): (32.68, 30.36, 27.21), ("DnCNN-B", "BSD68"): (31.61, 29.16, 26.23),
    ("FFDNet", "Set12"): (32.75, 30.43, 27.32), ("FFDNet", "BSD68"): (31.63, 29.19, 26.29),
}


def load_set(root: Path, name: str) -> list[tuple[str, np.ndarray]]:
    """Images of a test set, sorted by file name, as float64 in [0, 1]."""
    from skimage import io

    files = sorted((root / "test" / name).glob("*.png"))
    if not files:
        raise SystemExit(f"no images in {root / 'test' / name}; pass --data")
    return [(f.name, io.imread(f).astype(np.float64) / 255.0) for f in files]


def noisy_version(clean: np.ndarray, sigma: float, index: int) -> np.ndarray:
    """clean + N(0, sigma/255), not clipped, noise from default_rng(index)."""
    rng = np.random.default_rng(index)
    return clean + rng.standard_normal(clean.shape) * sigma / 255.0


def score(out: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    out = np.round(np.clip(out, 0, 1) * 255) / 255
    p = peak_signal_noise_ratio(clean, out, data_range=1)
    s = structural_similarity(clean, out, data_range=1, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False,
                              channel_axis=-1 if clean.ndim == 3 else None)
    return float(p), float(s)


def machine() -> str:
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def method_spec(spec: str) -> tuple[str, dict]:
    """``"NAME[@OPTION...]"`` -> (NAME, denoise keyword arguments). Options: ``best`` /
    ``fast`` (quality), ``fp32`` / ``bf16`` (precision), ``rgb`` (colour photos channel by
    channel instead of the opponent colour space). ``drunet_gray@best@fp32``; a bare name
    runs with the defaults a user gets."""
    name, *opts = spec.split("@")
    kw = {}
    for o in opts:
        if o in ("best", "fast"):
            kw["quality"] = o
        elif o in ("fp32", "bf16"):
            kw["precision"] = o
        elif o == "rgb":
            kw["colour_space"] = o
        else:
            raise SystemExit(f"unknown method option @{o} in {spec!r} (best, fast, fp32, bf16, rgb)")
    return name, kw


def load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


def parse_with_threads(parser, argv=None):
    """Add --force and --threads to ``parser``, parse, and apply the thread count."""
    parser.add_argument("--force", action="store_true", help="recompute cached results")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return args
