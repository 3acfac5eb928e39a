"""The learning-rate schedule of every trainer: linear warm-up, then cosine decay."""

from __future__ import annotations

import math


def warmup_cosine(step: int, peak: float, warmup: int, total: int | None,
                  min_ratio: float) -> float:
    """Learning rate at ``step`` (0-based): ``peak * (step + 1) / warmup`` during the
    warm-up, then a cosine from ``peak`` down to ``peak * min_ratio`` at ``total``
    (held there after it). ``total=None`` (not known yet): ``peak`` after the warm-up.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    if total is None:
        return peak
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))
