"""Rician noise ``sigma`` of a magnitude image from its background (Rayleigh where the
true amplitude is 0), with a Gaussian fallback when there is too little background.

Pure numpy/scipy; no GUI or torch imports here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SQRT_HALF_PI = math.sqrt(math.pi / 2.0)  # Rayleigh mean / sigma
#: std of a Rayleigh variable / sigma
RAYLEIGH_STD = math.sqrt((4.0 - math.pi) / 2.0)
#: mean(M) / sqrt(mean(M^2)) of a Rayleigh variable (sqrt(pi)/2)
RAYLEIGH_RATIO = math.sqrt(math.pi) / 2.0
#: Automatic background detection needs at least this fraction of the pixels ...
MIN_BACKGROUND_FRACTION = 0.02
#: ... and at least this many pixels, otherwise the Gaussian fallback is used.
MIN_BACKGROUND_PIXELS = 500
#: Side of the local-mean window used to recognise background pixels.
LOCAL_WINDOW = 5
#: Background pixels have a local mean below the Rayleigh mean plus this many standard errors
#: (and above half the Rayleigh mean, which drops zero-filled regions).
LOCAL_K = 4.0
LOCAL_LOW = 0.5
#: At most this many evenly spaced 2D planes are examined for n-D input.
MAX_PLANES = 8
#: Smallest spatial side accepted.
MIN_SIDE = 8
#: More than this fraction of negative pixels means the data is not a magnitude image.
MAX_NEGATIVE_FRACTION = 0.05




@dataclass
class RicianEstimate:
    """Result of :func:`estimate_rician_sigma`.

    ``method`` is ``"background-mask"`` (the given mask), ``"background-auto"``
    (automatically found background), ``"fallback-gaussian"`` (too little
    background: Gaussian estimate of the bright regions) or ``"constant"``.
    ``background_fraction`` is the fraction of pixels used as background
    (0 for the fallback).  ``message`` says in one line what was done.
    """

    sigma: float
    background_fraction: float
    method: str
    message: str
    per_plane: list[float] | None = None

    def __float__(self) -> float:
        return float(self.sigma)

    def __str__(self) -> str:
        return self.message


def _validate(arr: np.ndarray, what: str = "image", axes: str | None = None) -> None:
    if arr.dtype.kind == "c":
        raise ValueError(
            f"{what} is complex-valued; pass the magnitude image (np.abs) for a Rician estimate"
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {arr.dtype}; need a numeric magnitude image")
    if arr.ndim < 2:
        raise ValueError(f"need an image with at least 2 dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"cannot estimate noise of an empty array (shape {arr.shape})")
    from .axes import resolve_axes

    ax = resolve_axes(arr.shape, axes)
    h, w = arr.shape[ax.index("Y")], arr.shape[ax.index("X")]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(
            f"image is too small for a noise estimate: spatial size {h}x{w}, "
            f"each side must be at least {MIN_SIDE} pixels"
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or Inf values; cannot estimate Rician noise")
    if arr.dtype.kind in "if":
        neg = float(np.count_nonzero(arr < 0)) / arr.size
        if neg > MAX_NEGATIVE_FRACTION:
            raise ValueError(
                f"{neg:.0%} of the pixels are negative; a magnitude image is non-negative "
                "(is this real/phase data or a background-subtracted image?)"
            )


def _rayleigh_ml(m2_mean: float) -> float:
    """ML Rayleigh sigma from mean(M^2)."""
    return math.sqrt(max(m2_mean, 0.0) / 2.0)


def _mode_candidates(m: np.ndarray) -> list[float]:
    """Locations of the clear peaks of the histogram of low intensities, lowest first.

    For a Rayleigh background the first one is ``sigma``.  Exact zeros that form
    a spike (zero-filled regions outside the field of view) are left out.  Empty
    when no peak is found.
    """
    v = m.ravel()
    zeros = v == 0
    n0 = int(np.count_nonzero(zeros))
    if n0:
        pos = v[~zeros]
        if pos.size == 0:
            return []
        if v.dtype.kind == "f":
            # continuous Rayleigh data has no exact zeros: any sizeable number is fill
            fill = n0 > max(10, 1e-3 * v.size)
        else:
            smallest = pos.min()
            fill = n0 > 2 * int(np.count_nonzero(pos == smallest))
        if fill:
            v = pos
    v = v.astype(np.float64)
    q1 = float(np.quantile(v, 0.01))
    if q1 <= 0:
        q1 = float(np.quantile(v, 0.05))
    if q1 <= 0:
        q1 = float(np.median(v))
    if q1 <= 0:
        return []
    # if >= 2 % of the pixels are Rayleigh background and the lowest values are
    # background, sigma lies in ~[0.85, 4.5] * q1 and the background below ~20 q1
    hi = 25.0 * q1
    nbins = 500
    hist, edges = np.histogram(v, bins=nbins, range=(0.0, hi))
    if np.all(v == np.round(v)):
        # integer-valued data: bins narrower than 1 alternate empty/full; widen them
        width = max(1.0, hi / nbins)
        nbins = max(20, int(math.ceil(hi / width)))
        hist, edges = np.histogram(v, bins=nbins, range=(0.0, nbins * width))
    # the Rayleigh peak is 25-135 bins wide (FWHM 1.5 sigma): smooth away sampling noise
    smooth = ndimage.gaussian_filter1d(hist.astype(np.float64), 6.0, mode="constant")
    top = smooth.max()
    if top <= 0:
        return []
    half = 15
    peaks = []
    for i in range(1, len(smooth) - 1):
        lo, up = max(0, i - half), min(len(smooth), i + half + 1)
        # a small background (a few % of the pixels) gives a low peak next to the object's
        is_peak = smooth[i] == smooth[lo:up].max() and smooth[i] > smooth[i - 1]
        if is_peak and smooth[i] >= 0.05 * top:
            peaks.append(float(0.5 * (edges[i] + edges[i + 1])))
    return peaks


def _background_plane(m: np.ndarray) -> tuple[float, np.ndarray] | None:
    """(sigma, background mask) of one 2D magnitude plane, or None if no background.

    Histogram peaks are tried lowest first (at most 3); the first whose selected
    background is large enough and Rayleigh distributed wins.
    """
    local = ndimage.uniform_filter(m, size=LOCAL_WINDOW, mode="reflect")
    min_n = max(MIN_BACKGROUND_PIXELS, MIN_BACKGROUND_FRACTION * m.size)
    for start in _mode_candidates(m)[:3]:
        found = _select_background(m, local, start)
        if found is not None:
            sigma, mask = found
            if np.count_nonzero(mask) >= min_n and _looks_rayleigh(m[mask]):
                return found
    return None


def _select_background(
    m: np.ndarray, local: np.ndarray, sigma: float
) -> tuple[float, np.ndarray] | None:
    """Iterate sigma -> Rayleigh-consistent pixels -> ML sigma, from a start value."""
    if not sigma > 0:
        return None
    foot = np.ones((3, 3), dtype=bool)
    se = RAYLEIGH_STD / LOCAL_WINDOW  # std of a local mean of Rayleigh values, / sigma
    mask = None
    # the selection is loose on purpose: a tight window around the current
    # estimate truncates the Rayleigh distribution and drifts to a biased fixed point
    for _ in range(6):
        lo = sigma * SQRT_HALF_PI * LOCAL_LOW
        hi = sigma * (SQRT_HALF_PI + LOCAL_K * se)
        ok = (local > lo) & (local < hi)
        # keep pixels whose neighbours are background-like too: this drops the
        # object's rim, where a window is mostly background but the pixel is not
        ok = ndimage.binary_erosion(ok, structure=foot, border_value=1)
        n = int(np.count_nonzero(ok))
        if n == 0:
            return None
        new = _rayleigh_ml(float(np.mean(m[ok] ** 2)))
        converged = mask is not None and np.array_equal(ok, mask)
        mask = ok
        if new <= 0:
            return None
        if converged or abs(new - sigma) <= 1e-3 * sigma:
            sigma = new
            break
        sigma = new
    return sigma, mask


def _looks_rayleigh(vals: np.ndarray) -> bool:
    """mean(M)/sqrt(mean(M^2)) of Rayleigh data is sqrt(pi)/2 = 0.886.

    A bright region with Gaussian-like noise has a ratio close to 1; this tells
    an object mistaken for background apart from real background.
    """
    v = vals.astype(np.float64)
    rms = math.sqrt(float(np.mean(v * v)))
    if rms == 0:
        return False
    ratio = float(np.mean(v)) / rms
    return abs(ratio - RAYLEIGH_RATIO) < 0.03


def estimate_rician_sigma(image, *, background=None, axes: str | None = None) -> RicianEstimate:
    """Noise ``sigma`` of a magnitude (Rician) image, from its background.

    In the background (``A = 0``) the magnitude is Rayleigh distributed and the
    ML estimate is ``sigma = sqrt(mean(M^2) / 2)``.  With a boolean
    ``background`` mask (same shape as ``image``) it is applied to the masked
    pixels.  Otherwise the background is found automatically, per 2D plane:
    the first peak of the histogram of low intensities (the Rayleigh mode,
    = sigma) gives a first sigma; pixels whose 5x5 neighbourhood means are all
    consistent with pure Rayleigh noise are selected and sigma re-estimated on
    them, a few times.  ``axes`` names the axes (guessed from the shape when
    omitted, as everywhere: a trailing 3 or 4 is colour); up to 8 evenly spaced
    2-D planes, every channel represented, are estimated and the median returned.

    With too little background (< 2 % of the pixels or < 500 pixels) this does
    not fail: ``method`` is ``"fallback-gaussian"`` (Gaussian patch estimate of
    the image, which in bright regions equals the Rician sigma) and
    ``message`` says so.  A constant image gives ``sigma = 0.0``.
    """
    arr = np.asarray(image)
    _validate(arr, axes=axes)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    if background is not None:
        return _from_mask(arr, background)
    if np.all(arr == arr.flat[0]):
        return RicianEstimate(
            sigma=0.0, background_fraction=0.0, method="constant",
            message="constant image: no noise to estimate (sigma = 0)",
        )
    auto, fallback = _scan_planes(arr, axes)
    if auto:
        return _auto_result(auto, fallback)
    if not fallback:  # every examined plane was constant
        return RicianEstimate(
            sigma=0.0, background_fraction=0.0, method="constant",
            message="constant planes: no noise to estimate (sigma = 0)",
        )
    return _fallback_result(fallback)


def _from_mask(arr: np.ndarray, background) -> RicianEstimate:
    """The ML Rayleigh sigma of the pixels a boolean ``background`` mask selects."""
    mask = np.asarray(background)
    if mask.dtype != bool:
        raise ValueError(f"background must be a boolean mask, got dtype {mask.dtype}")
    if mask.shape != arr.shape:
        raise ValueError(
            f"background mask has shape {mask.shape}, the image has shape {arr.shape}"
        )
    n = int(np.count_nonzero(mask))
    if n < 10:
        raise ValueError(f"background mask selects only {n} pixels; need at least 10")
    vals = arr[mask].astype(np.float64)
    sigma = _rayleigh_ml(float(np.mean(vals * vals)))
    frac = n / arr.size
    return RicianEstimate(
        sigma=sigma,
        background_fraction=frac,
        method="background-mask",
        message=(
            f"Rician sigma = {sigma:.4g} from the given background mask "
            f"({n} pixels, {frac:.1%})"
        ),
    )


def _scan_planes(arr: np.ndarray,
                 axes: str | None) -> tuple[list[tuple[float, float]], list[float]]:
    """Per examined plane: (sigma, background fraction) where background was found,
    else the Gaussian fallback sigma; constant planes are skipped."""
    auto: list[tuple[float, float]] = []  # (sigma, background fraction)
    fallback: list[float] = []
    from .axes import resolve_axes, spread_planes

    for view in spread_planes(arr, resolve_axes(arr.shape, axes), MAX_PLANES):
        plane = np.asarray(view, dtype=np.float64)
        if np.all(plane == plane.flat[0]):
            continue  # an empty slice says nothing about the noise
        found = _background_plane(plane)
        if found is not None:
            sigma, mask = found
            auto.append((sigma, int(np.count_nonzero(mask)) / plane.size))
            continue
        from .noise import estimate_sigma_2d

        fallback.append(estimate_sigma_2d(plane))
    return auto, fallback


def _auto_result(auto: list[tuple[float, float]], fallback: list[float]) -> RicianEstimate:
    """The median of the automatic background estimates."""
    sig = [s for s, _ in auto]
    sigma = float(np.median(sig))
    frac = float(np.median([f for _, f in auto]))
    where = f" (median of {len(sig)} planes)" if len(sig) > 1 else ""
    extra = f"; {len(fallback)} plane(s) without background ignored" if fallback else ""
    return RicianEstimate(
        sigma=sigma,
        background_fraction=frac,
        method="background-auto",
        message=(
            f"Rician sigma = {sigma:.4g} from the image background "
            f"({frac:.1%} of the pixels){where}{extra}"
        ),
        per_plane=sig,
    )


def _fallback_result(fallback: list[float]) -> RicianEstimate:
    """The median Gaussian estimate, when no plane had enough background."""
    sigma = float(np.median(fallback))
    return RicianEstimate(
        sigma=sigma,
        background_fraction=0.0,
        method="fallback-gaussian",
        message=(
            "too little background for a Rician estimate (need pure-noise background on at least "
            f"{MIN_BACKGROUND_FRACTION:.0%} of the pixels and {MIN_BACKGROUND_PIXELS} pixels); "
            f"used the Gaussian estimate sigma = {sigma:.4g} of the bright regions instead"
        ),
        per_plane=fallback,
    )
