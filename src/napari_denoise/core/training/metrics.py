"""The image-quality measure the trainers report."""

from __future__ import annotations

import math

import numpy as np


def psnr(x, ref, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio of ``x`` against ``ref`` in dB (inf when equal)."""
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(ref, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(data_range**2 / mse)
