"""Noise-level estimation.

The Gaussian estimator is the patch-covariance (PCA) method of
Chen, Zhu & Heng, "An Efficient Statistical Method for Image Noise Level
Estimation", ICCV 2015: the eigenvalues of the covariance of overlapping
image patches split into a few large ones (image structure) and many small
ones that, for additive white Gaussian noise, all equal sigma^2.  The noise
eigenvalues are found as the largest tail of the smallest eigenvalues whose
mean is also their median.  The estimate is then refined on weakly textured
patches (gradient-energy selection of Liu, Tanaka & Okutomi 2013), which
removes most of the upward bias textured images give at low noise levels.

Pure numpy; no GUI or torch imports here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .axes import frame_runs, resolve_axes, spread_planes
from .noise_gaussian import MAX_PATCHES, PATCH_SIZE, estimate_sigma_2d  # noqa: F401 - public
from .noise_pg import fit_poisson_gaussian

__all__ = ["NoiseEstimate", "estimate_noise", "estimate_sigma_2d", "fit_poisson_gaussian"]

#: Smallest spatial side :func:`estimate_noise` accepts.
MIN_SIDE = 8
#: At most this many 2D planes are examined for stacks and channel images.
MAX_PLANES = 8



# --------------------------------------------------------------------------
# result type
# --------------------------------------------------------------------------


@dataclass
class NoiseEstimate:
    """Result of :func:`estimate_noise`: a fitted noise model in the data's own units.

    The model is ``variance(x) = a * x + b`` where ``x`` is the noise-free signal,
    stored as ``variance = gain * max(x - black_level, 0) + sigma**2`` (so a
    negative ``b``, a pedestal, is a black level).  The Gaussian model has
    ``gain == 0`` and the noise std is ``sigma`` everywhere; the Poisson-Gaussian
    model (``model == "poisson-gaussian"``) makes :meth:`sigma_map` signal dependent.

    ``points`` holds the binned (mean, variance, count) rows the fit used (for a
    mean-variance plot); ``message`` says why a fallback was taken, if one was.
    ``confidence`` (a fitted Poisson-Gaussian model): ``rel_a`` and ``rel_b``, the
    standard deviations of a and b relative to their size (a bootstrap over the blocks
    plus a systematic term; ``rel_b`` >= 1: b is not measurable from these data); ``coverage``, the
    fraction of the data's signal range (1st-99th percentile of local means) that the
    fit's bins span, and ``signal_range`` that range (lo, hi); ``n_blocks``; ``frames``,
    why frame differences were or were not
    used.
    """

    model: str = "gaussian"
    sigma: float = 0.0
    per_plane: list[float] = field(default_factory=list)
    gain: float = 0.0
    black_level: float = 0.0
    points: np.ndarray | None = field(default=None, repr=False)
    message: str = ""
    source: str = ""
    confidence: dict = field(default_factory=dict, repr=False)

    @classmethod
    def poisson_gaussian(cls, a: float, b: float, **kwargs) -> "NoiseEstimate":
        """The model ``variance = a * x + b`` (``b`` may be negative: a pedestal)."""
        a, b = float(a), float(b)
        if not (math.isfinite(a) and math.isfinite(b)) or a < 0:
            raise ValueError(f"need a finite gain a >= 0 and offset b, got a={a}, b={b}")
        if a == 0:
            return cls(model="gaussian", sigma=math.sqrt(max(b, 0.0)), **kwargs)
        if b >= 0:
            return cls(model="poisson-gaussian", sigma=math.sqrt(b), gain=a, **kwargs)
        return cls(model="poisson-gaussian", sigma=0.0, gain=a, black_level=-b / a, **kwargs)

    @property
    def a(self) -> float:
        """Gain: variance added per unit of signal."""
        return float(self.gain)

    @property
    def b(self) -> float:
        """Offset variance: the variance at zero signal (negative with a pedestal)."""
        return float(self.sigma**2 - self.gain * self.black_level)

    def variance(self, signal) -> np.ndarray:
        """Noise variance at the given noise-free signal level(s)."""
        signal = np.maximum(np.asarray(signal, np.float64) - self.black_level, 0.0)
        return self.gain * signal + self.sigma**2

    def sigma_map(self, image: np.ndarray, *, axes: str | None = None, smooth: int = 5,
                  strength: float = 1.0) -> np.ndarray:
        """Per-pixel noise std (float32) with the shape of ``image``, times ``strength``.

        For the Poisson-Gaussian model the signal is the image averaged over a
        ``smooth`` x ``smooth`` window in Y and X (the noisy value itself would
        put the noise into the map): ``sqrt(a * signal + b)``.
        """
        image = np.asarray(image)
        if self.gain == 0.0:
            return np.full(image.shape, self.sigma * strength, dtype=np.float32)
        signal = smooth_signal(image, axes=axes, size=smooth)
        out = np.sqrt(self.variance(signal))
        if strength != 1.0:
            out *= strength
        return out.astype(np.float32)

    def __float__(self) -> float:
        return float(self.sigma)

    def __str__(self) -> str:
        if self.model == "poisson-gaussian":
            text = f"Poisson-Gaussian noise, variance = {self.a:.4g} * signal {self.b:+.4g}"
        else:
            text = f"{self.model} noise, sigma = {self.sigma:.4g}"
        n = len(self.per_plane)
        if n > 1 and self.model == "gaussian":
            vals = ", ".join(f"{v:.4g}" for v in self.per_plane)
            text += f" (median of {n} planes: {vals})"
        text += confidence_words(self.confidence)
        if self.message:
            text += f" [{self.message}]"
        return text


def confidence_words(conf: dict) -> str:
    """`` (a +-2%, b +-40%; bins cover 85% of the signal range)``, or '' without a fit."""
    if not conf or "rel_a" not in conf:
        return ""

    def pm(x):
        return "unknown" if not math.isfinite(x) else (f"+-{x:.0%}" if x < 1 else "not measurable")

    text = f" (a {pm(conf['rel_a'])}, b {pm(conf['rel_b'])}"
    cov = conf.get("coverage", float("nan"))
    if math.isfinite(cov):
        text += f"; bins cover {cov:.0%} of the signal range"
    return text + ")"


def smooth_signal(image: np.ndarray, *, axes: str | None = None, size: int = 5) -> np.ndarray:
    """A local-mean estimate of the noise-free signal: a box average over Y and X only."""
    from scipy.ndimage import uniform_filter

    image = np.asarray(image, dtype=np.float64)
    if image.ndim < 2 or size <= 1:
        return image
    ax = resolve_axes(image.shape, axes)
    sizes = [1] * image.ndim
    sizes[ax.index("Y")] = sizes[ax.index("X")] = size
    return uniform_filter(image, size=sizes, mode="reflect")


# public entry point
# --------------------------------------------------------------------------


def _planes(arr: np.ndarray, axes: str) -> list[np.ndarray]:
    """Up to MAX_PLANES evenly spaced 2D YX planes, each channel represented."""
    return spread_planes(arr, axes, MAX_PLANES)


def _signal_dependent(a: float, se_a: float, b: float, pts: np.ndarray) -> bool:
    """Is the variance clearly signal dependent over the data's signal range?

    The gain must be significant, and the noise std must change by more than ~22%
    from the background (the 10th percentile of the bins) to the brightest bin. Sparse
    fluorescence (a few bright objects on a large dark background) has most blocks in
    the background: judged over the 10th-90th percentiles, as before, its objects'
    noise, twice the background's or more, was called Gaussian (benchmarks/n2n_volume.py,
    4 captures of a synthetic cell: the shipped network with the Gaussian estimate
    about 2.4 dB below the same network with the fitted model). No Gaussian-noise image of BSD68 or Set12 (sigma 5-25,
    float or clipped uint8) is judged signal dependent by this rule."""
    if a <= 0 or not math.isfinite(se_a) or a < 4.0 * se_a:
        return False
    lo = float(np.percentile(pts[:, 0], 10))
    hi = float(np.max(pts[:, 0]))
    v_lo = max(a * lo + b, 1e-12)
    return a * (hi - lo) > 0.5 * v_lo  # the noise std changes by more than ~22%


def estimate_noise(image, *, axes: str | None = None, model: str = "gaussian",
                   frames: bool | None = None) -> NoiseEstimate:
    """Estimate the noise of ``image`` in the data's own units.

    ``image`` may be 2D (YX), a stack (ZYX, TYX, ...), RGB (YXC) or have
    channels; ``axes`` names its axes with letters from ``TZCYX`` (Y and X the
    last two spatial axes, C optionally last).  Without ``axes``: 2D is YX, a
    trailing dimension of 3 or 4 is colour (YXC), and all other leading axes
    are stacked planes.

    ``model``:

    - ``"gaussian"``: one std for the whole image.  Up to 8 evenly spaced 2D
      planes (each channel represented) are estimated and the median returned.
    - ``"poisson-gaussian"``: ``variance = a * signal + b`` (photon shot noise
      plus read noise), fitted to binned local means and variances of smooth,
      unclipped 8x8 blocks (a weighted line fit in the spirit of Foi et al.
      2008), binned over the whole signal range, with a bootstrap confidence in
      ``confidence``.  With ``frames`` the fit uses differences of consecutive
      frames, which hold no image structure for a static scene; by default when
      ``axes`` names a T axis, or when the planes of the stack axis are detected as
      independent captures (differences without structure, with twice the
      single-plane noise variance).  If no fit is possible (constant image, too little smooth
      area) a Gaussian estimate is returned with the reason in ``message``.
    - ``"auto"``: the Poisson-Gaussian fit when the variance clearly grows with
      the signal, the Gaussian estimate otherwise.
    """
    model = _check_model(model)
    arr, ax = _validated(image, axes)
    planes = _planes(arr, ax)
    per_plane = [estimate_sigma_2d(p) for p in planes]
    sigma = float(np.median(per_plane))
    gauss = NoiseEstimate(model="gaussian", sigma=sigma, per_plane=per_plane, source="patch PCA")
    if model == "gaussian":
        return gauss
    if sigma == 0.0 and all(float(np.ptp(p)) == 0.0 for p in planes):
        gauss.message = "constant image: there is no noise to fit"
        return gauss
    use_frames, why = _use_frames(arr, ax, axes, frames)
    try:
        fits, source = _pg_fits(arr, ax, planes, use_frames)
    except ValueError as exc:
        gauss.message = f"{exc}; using a Gaussian estimate instead"
        if model == "poisson-gaussian":
            import warnings

            warnings.warn(gauss.message, UserWarning, stacklevel=2)
        return gauss
    est = _pg_result(fits, source, model, gauss)
    est.confidence["frames"] = why
    return est


def _check_model(model: str | None) -> str:
    """The normalised noise-model name, or a ValueError for an unknown one."""
    model = (model or "gaussian").lower().replace("_", "-")
    if model not in ("gaussian", "poisson-gaussian", "auto"):
        raise ValueError(f"unknown noise model {model!r}; use 'gaussian', 'poisson-gaussian' or 'auto'")
    return model


def _validated(image, axes: str | None) -> tuple[np.ndarray, str]:
    """``image`` as an array fit for estimation (bool as uint8), with its resolved axes."""
    arr = np.asarray(image)
    if arr.size == 0:
        raise ValueError(f"cannot estimate noise of an empty array (shape {arr.shape})")
    if arr.dtype.kind == "c":
        raise ValueError("cannot estimate noise of a complex-valued image")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"cannot estimate noise of an image of dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(f"need an image with at least 2 dimensions, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or Inf values; cannot estimate noise")

    ax = resolve_axes(arr.shape, axes)
    h, w = arr.shape[ax.index("Y")], arr.shape[ax.index("X")]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(
            f"image is too small to estimate noise: spatial size {h}x{w} (axes {ax}), "
            f"each side must be at least {MIN_SIDE} pixels"
        )
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    return arr, ax


def _use_frames(arr: np.ndarray, ax: str, axes: str | None,
                frames: bool | None) -> tuple[bool, str]:
    """Fit frame differences?  With a time axis the caller named, or when consecutive
    planes of the stack axis (T, else Z) are detected as independent captures.  Returns
    (use, why)."""
    if frames is not None:
        if frames and not any(c in ax for c in "TZ"):
            raise ValueError(f"frames=True needs a T or Z axis (axes {ax})")
        return bool(frames), "asked for" if frames else "not asked for"
    if axes is not None and "T" in ax and arr.shape[ax.index("T")] >= 2:
        return True, "the T axis holds frames"
    stack = "T" if "T" in ax else ("Z" if "Z" in ax else None)
    if stack is None or arr.shape[ax.index(stack)] < 2:
        return False, "no stack axis"
    from .noise_frames import independent_captures

    run = frame_runs(arr, ax, 2 * MAX_PLANES)[0]
    return independent_captures(run)


def _pg_fits(arr: np.ndarray, ax: str, planes: list[np.ndarray],
             use_frames: bool) -> tuple[list, str]:
    """Poisson-Gaussian fits (one per frame run, or one of the planes) and their source.

    Raises ValueError when no fit is possible.
    """
    if use_frames:
        runs = frame_runs(arr, ax, 2 * MAX_PLANES)
        fits = [fit_poisson_gaussian(r, frames=True) for r in runs if len(r) >= 2]
        return fits, "differences of consecutive frames"
    return [fit_poisson_gaussian(planes)], "smooth blocks of single planes"


def _pg_result(fits: list, source: str, model: str, gauss: NoiseEstimate) -> NoiseEstimate:
    """The Poisson-Gaussian estimate from ``fits``, or ``gauss`` with the reason it was kept."""
    # channels: the median gain and offset (one model for the sensor)
    a = float(np.median([f.a for f in fits]))
    b = float(np.median([f.b for f in fits]))
    se = float(np.median([f.se_a for f in fits]))
    pts = np.concatenate([f.points for f in fits])
    if model == "auto" and not _signal_dependent(a, se, b, pts):
        gauss.message = "no clear signal dependence: Gaussian model"
        gauss.points = pts
        return gauss
    if a <= 0:
        gauss.message = "the fitted gain is not positive; using a Gaussian estimate"
        gauss.points = pts
        return gauss
    conf = {"rel_a": float(np.median([f.rel_a for f in fits])),
            "rel_b": float(np.median([f.rel_b for f in fits])),
            "coverage": float(np.median([f.coverage for f in fits])),
            "signal_range": tuple(float(np.median([f.signal_range[k] for f in fits]))
                                  for k in (0, 1)),
            "n_blocks": int(sum(f.n_blocks for f in fits))}
    return NoiseEstimate.poisson_gaussian(a, b, per_plane=gauss.per_plane, points=pts,
                                          source=source, confidence=conf)
