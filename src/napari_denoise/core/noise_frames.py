"""Are the planes of a stack independent captures of one scene?

Then the difference of two consecutive planes is pure noise: it holds no structure
(its blocks pass the same gradient / residual energy test as white noise), and half
its variance equals the single plane's noise variance in the same blocks.  A Z stack
through an object, a moving scene or a drifting focus fails the first test; copies of
one frame, or frames already averaged or denoised together, fail the second.  A slow,
smooth change (neighbouring slices of a blurred object) can pass both; it fails a
third: planes two apart differ more than neighbours, captures of a still scene do not.

Pure numpy; no GUI or torch imports here.
"""

from __future__ import annotations

import numpy as np

from .noise_pg import PG_BLOCK, _calibration, _pg_stats_frames, _pg_stats_plane

#: Most structured blocks allowed in a difference (pure noise: 1 - PG_KEEP = 2%).
MAX_STRUCTURED = 0.08
#: Accepted range of (difference variance / 2) / (single-plane variance).
VARIANCE_MATCH = (0.8, 1.25)
#: Quantile of the blocks' difference energies compared between planes two apart and
#: neighbours: high, so that a change confined to edges (a small shift) shows.
APART_QUANTILE = 0.9
#: The brightest blocks (above this quantile of the signal) are compared two apart too:
#: the gain is fitted from the bright end, where a slow change through a sample shows
#: first (a blurred cell on 0.4 um slices: 1.26x at the 0.9 quantile of all blocks,
#: judged independent, and a gain fitted 1.8x too high).
BRIGHT_QUANTILE = 0.9
#: Planes are compared on their central part of at most this side (4096 8x8 blocks).
MAX_SIDE = 512
#: Fewest usable blocks per compared pair.
MIN_BLOCKS = 60


def _pair_verdict(z0: np.ndarray, z1: np.ndarray, z2=None, block: int = PG_BLOCK):
    """(structured fraction, variance ratio, two-apart / neighbour difference ratio) of
    one pair (and the plane after it, if any); None when too small to judge."""
    z0 = np.asarray(z0, np.float64)
    z1 = np.asarray(z1, np.float64)
    if min(z0.shape) < block + 2:
        return None
    _, vp, gp, badp = _pg_stats_plane(z0, block)
    md, vd, gd, badd = _pg_stats_frames(z0[1:-1, 1:-1], z1[1:-1, 1:-1], block)
    if np.mean(vd == 0) > 0.5:
        return 0.0, 0.0, float("nan")  # copies of one frame
    ok = ~(badp | badd) & (vp > 0) & (vd > 0)
    if np.count_nonzero(ok) < MIN_BLOCKS:
        return None
    thr_p, _, corr_p = _calibration(block, False)[:3]
    thr_d, _, corr_d = _calibration(block, True)[:3]
    smooth_d = gd[ok] < thr_d * 4.0 * vd[ok]
    structured = 1.0 - float(np.mean(smooth_d))
    both = smooth_d & (gp[ok] < thr_p * 4.0 * vp[ok])
    if np.count_nonzero(both) < MIN_BLOCKS // 2:
        return structured, float("nan"), float("nan")
    ratio = (np.median(vd[ok][both]) / corr_d) / (np.median(vp[ok][both]) / corr_p)
    apart = float("nan")
    if z2 is not None:
        _, vd2, _, bad2 = _pg_stats_frames(z0[1:-1, 1:-1], np.asarray(z2, np.float64)[1:-1, 1:-1],
                                           block)
        ok2 = ok & ~bad2  # the upper tail: where the scene changes, if anywhere
        apart = float(np.quantile(vd2[ok2], APART_QUANTILE)
                      / max(np.quantile(vd[ok2], APART_QUANTILE), 1e-300))
        top = ok2 & (md >= np.quantile(md[ok2], BRIGHT_QUANTILE))
        if np.count_nonzero(top) >= MIN_BLOCKS // 2:  # where the gain is fitted
            apart = max(apart, float(np.median(vd2[top]) / max(np.median(vd[top]), 1e-300)))
    return structured, float(ratio), apart


def _central(plane):
    """The central MAX_SIDE x MAX_SIDE part of a 2-D plane (all of a smaller one)."""
    h, w = np.shape(plane)[-2:]
    y0, x0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    return plane[y0:y0 + MAX_SIDE, x0:x0 + MAX_SIDE]


def independent_captures(run, max_pairs: int = 3) -> tuple[bool, str]:
    """Whether consecutive planes of ``run`` (a list of 2-D arrays) are independent
    captures of a still scene, judged on up to ``max_pairs`` pairs from its middle;
    with the reason in words."""
    n = len(run)
    if n < 2:
        return False, "a single plane"
    run = [_central(p) for p in run]
    mid = (n - 1) // 2
    starts = sorted({min(max(mid + k, 0), n - 2) for k in range(-(max_pairs // 2), max_pairs)})
    verdicts = [v for v in (_pair_verdict(run[i], run[i + 1], run[i + 2] if i + 2 < n else None)
                            for i in starts[:max_pairs]) if v is not None]
    if not verdicts:
        return False, "too few unclipped blocks to compare the planes"
    structured = float(np.median([v[0] for v in verdicts]))
    ratios = [v[1] for v in verdicts if np.isfinite(v[1])]
    aparts = [v[2] for v in verdicts if np.isfinite(v[2])]
    if ratios and max(ratios) == 0.0:
        return False, "neighbouring planes are identical"
    if structured > MAX_STRUCTURED:
        return False, f"differences of neighbouring planes hold structure ({structured:.0%} of blocks)"
    if not ratios:
        return False, "too few smooth blocks to compare the planes"
    ratio = float(np.median(ratios))
    lo, hi = VARIANCE_MATCH
    if not lo <= ratio <= hi:
        return False, (f"differences of neighbouring planes have {ratio:.2f}x the single-plane "
                       "noise (independent captures: 1x)")
    if aparts and not lo <= float(np.median(aparts)) <= hi:
        return False, (f"planes two apart differ {float(np.median(aparts)):.2f}x as much as "
                       "neighbours: the scene changes from plane to plane")
    return True, f"neighbouring planes are independent captures (noise ratio {ratio:.2f})"
