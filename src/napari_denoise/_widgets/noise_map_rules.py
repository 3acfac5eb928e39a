"""What the Noise map widget decides, as plain functions (no Qt, napari or magicgui).

- whether a layer is estimated whole or on a few planes (:func:`should_sample`);
- how much memory a map needs and may use (:func:`map_bytes`, :func:`map_budget`,
  :func:`map_too_big`), from the memory available (:func:`available_memory`);
- which layers and axes are accepted (:func:`check_layer`, :func:`read_axes`,
  :func:`check_map_source`) and what an edited gain/offset makes of the model
  (:func:`edited_estimate`);
- the work the widget's threads do (:func:`fit_noise`, :func:`model_map`,
  :func:`layer_map`) and what the map layer records (:func:`map_meta`).

Layers are read duck-typed (``name``, ``data``, ``multiscale``, ``rgb``); nothing here
touches a viewer and nothing here imports Qt, napari, magicgui or torch, so all of it
is tested without a display.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ..core.axes import AxesError, normalize_axes
from ..core.noise import NoiseEstimate, estimate_noise
from ..core.normalise import sample_planes

NOISE_MODELS = ["poisson-gaussian", "gaussian", "auto"]
SOURCE_MODEL = "fitted model"
SOURCE_LAYER = "painted/computed layer"

#: numpy stacks with more elements than this (and every lazy array) are estimated on
#: a few evenly spaced planes
SAMPLE_ABOVE = 16 * 1024 * 1024
#: fraction of the available memory a map computation may use
MEMORY_FRACTION = 0.5
#: bytes per element of a map from a Poisson-Gaussian model: the input as float64, the
#: smoothed signal, the variance and the float32 map
MODEL_MAP_BYTES = 28
#: ... from a Gaussian model (a = 0): the float32 map only
GAUSSIAN_MAP_BYTES = 4
#: ... from a map layer: its float32 copy, and the scaled result
LAYER_MAP_BYTES = 8
#: assumed when the memory available cannot be read
FALLBACK_MEMORY = 4.0 * 1024**3


def format_value(v: float) -> str:
    """A gain or offset as the fields show it (6 significant digits)."""
    return f"{v:.6g}"


def format_bytes(n: float) -> str:
    """``n`` bytes for people: "512 bytes", "1.5 MB", ..."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


# -- memory -------------------------------------------------------------------------------

def available_memory() -> float:
    """Bytes of memory available now: psutil's reading, else the OS's free pages, else
    :data:`FALLBACK_MEMORY`."""
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - no psutil: ask the OS
        try:
            return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return FALLBACK_MEMORY


def map_budget(fraction: float = MEMORY_FRACTION, cap: float | None = None,
               available: float | None = None) -> float:
    """Bytes a map computation may use: ``fraction`` of the available memory (read now
    unless given), at most ``cap`` when there is one."""
    budget = fraction * (available_memory() if available is None else float(available))
    if cap is not None:
        budget = min(budget, float(cap))
    return budget


def map_bytes(shape: tuple, est: NoiseEstimate | None = None) -> float:
    """Bytes computing the map of an input of ``shape`` needs: from the model ``est``, or
    from a map layer when ``est`` is None."""
    if est is None:
        per_elem = LAYER_MAP_BYTES
    else:
        per_elem = GAUSSIAN_MAP_BYTES if est.a == 0 else MODEL_MAP_BYTES
    return float(np.prod(shape, dtype=np.float64)) * per_elem


def map_too_big(name: str, shape: tuple, need: float, budget: float,
                model: str | None) -> str | None:
    """Why the map of the layer ``name`` is not computed (it needs ``need`` bytes, more
    than ``budget``), with what to do instead; None when it fits."""
    if need <= budget:
        return None
    return (f"The noise map of '{name}' {tuple(shape)} is not computed: it needs about "
            f"{format_bytes(need)} of memory and {format_bytes(budget)} can be used. "
            "Denoise with the Denoise widget's auto noise level and the "
            f"'{model or 'poisson-gaussian'}' noise model, or "
            "from Python with napari_denoise.denoise(..., sigma=estimate).")


def should_sample(data, sample_above: int = SAMPLE_ABOVE) -> bool:
    """Whether the noise of ``data`` is estimated on a few planes: lazy arrays, and numpy
    arrays of more than ``sample_above`` elements."""
    return not isinstance(data, np.ndarray) or data.size > sample_above


# -- what is accepted -----------------------------------------------------------------------

def check_layer(layer) -> None:
    """A :class:`ValueError` saying why ``layer`` gets no noise model (None, multiscale,
    a data type that is not numbers)."""
    if layer is None:
        raise ValueError("choose an image layer")
    if layer.multiscale:
        raise ValueError(f"'{layer.name}' is a multiscale (pyramid) layer; the noise map "
                         "works on single-resolution layers")
    if np.dtype(layer.data.dtype).kind not in "buif":
        raise ValueError(f"'{layer.name}' has data type {layer.data.dtype}; use an "
                         "integer or floating-point image")


def read_axes(text: str, layer) -> str:
    """The axes typed (``text``), checked against ``layer``'s data (a ValueError)."""
    try:
        return normalize_axes(text, layer.data.ndim)
    except AxesError as exc:
        raise ValueError(f"{exc} ('{layer.name}' has shape {tuple(layer.data.shape)})"
                         ) from None


def check_mappable(layer) -> None:
    """A ValueError for a layer no map is shown for (RGB)."""
    if layer.rgb:
        raise ValueError(f"'{layer.name}' is an RGB layer: the noise map is shown for "
                         "grayscale and multichannel layers only")


def check_map_source(layer, src) -> None:
    """A ValueError unless ``src`` is a map layer for ``layer`` (the same shape)."""
    if src is None:
        raise ValueError(f"choose a map layer with the shape of '{layer.name}' "
                         f"{tuple(layer.data.shape)}")
    if tuple(src.data.shape) != tuple(layer.data.shape):
        raise ValueError(f"the map layer '{src.name}' has shape {tuple(src.data.shape)}; "
                         f"'{layer.name}' has {tuple(layer.data.shape)}")


def require_estimate(layer, est: NoiseEstimate | None) -> NoiseEstimate:
    """``est``, or a ValueError asking for an estimate of ``layer`` first."""
    if est is None:
        raise ValueError(f"estimate the noise of '{layer.name}' first (or choose "
                         "a painted/computed map layer)")
    return est


def edited_estimate(old: NoiseEstimate | None, text_a: str,
                    text_b: str) -> NoiseEstimate | None:
    """The model the gain and offset fields hold: a new Poisson-Gaussian estimate (keeping
    ``old``'s points) when they differ from ``old`` as shown, else None (also when both
    are empty). A ValueError when a field is not a number or the model is invalid."""
    text_a, text_b = text_a.strip(), text_b.strip()
    if not (text_a or text_b):
        return None
    a, b = float(text_a or 0), float(text_b or 0)
    if old is not None and format_value(old.a) == format_value(a) and \
            format_value(old.b) == format_value(b):
        return None
    # the data's signal range and the bins' share of it still hold; the fit's errors do not
    kept = {k: v for k, v in (old.confidence if old is not None else {}).items()
            if k in ("coverage", "signal_range")}
    return NoiseEstimate.poisson_gaussian(a, b, points=None if old is None else old.points,
                                          source="edited", confidence=kept)


# -- work done in threads ---------------------------------------------------------------------

def fit_noise(data, axes: str, model: str, sample: bool) -> NoiseEstimate:
    """The noise model of ``data`` (a few planes of it when ``sample``); a fallback is
    reported in the estimate's ``message``, not as a warning."""
    arr = sample_planes(data, axes) if sample else np.asarray(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return estimate_noise(arr, axes=axes, model=model)


def model_map(est: NoiseEstimate, data, axes: str, strength: float) -> np.ndarray:
    """The per-pixel noise std of ``data`` under ``est``, times ``strength``."""
    return est.sigma_map(np.asarray(data), axes=axes, strength=float(strength))


def layer_map(data, strength: float) -> np.ndarray:
    """A float32 copy of a painted/computed map times ``strength`` (``data`` is never
    modified); a ValueError for NaN, infinite or negative values."""
    out = np.array(data, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError("the map layer contains NaN or infinite values")
    if out.size and float(out.min()) < 0:
        raise ValueError("the map layer has negative values; a noise std must be >= 0")
    if strength != 1.0:
        out *= np.float32(strength)
    return out


# -- what the map layer records and shows ------------------------------------------------------

def map_meta(input_name: str, strength: float, est: NoiseEstimate | None,
             source_layer: str | None = None) -> dict:
    """The map layer's ``metadata["napari_denoise"]``: its input, source, strength and the
    model (when there is one)."""
    if source_layer is not None:
        source = f"layer '{source_layer}'"
    else:
        source = "edited model" if est is not None and est.source == "edited" \
            else "fitted model"
    return dict(source=source, noise_map_for=input_name, strength=strength,
                model=est.model if est is not None else None,
                a=est.a if est is not None else None,
                b=est.b if est is not None else None)


def map_summary(name: str, data: np.ndarray, strength: float) -> str:
    """The status line after the map ``name`` was shown."""
    return (f"Map '{name}': noise std {float(data.min()):.4g} to {float(data.max()):.4g} "
            f"(mean {float(data.mean()):.4g}, data units, strength {strength:g}).")


# -- the mean-variance plot ------------------------------------------------------------------

#: the plot's axis choices: (label, key)
PLOT_SCALES = (("linear", "linear"), ("log-log", "log"), ("noise std (sqrt)", "sqrt"))


def plot_title(est: NoiseEstimate | None) -> str:
    """What the plot's title says: the fitted line, or that it was edited by hand."""
    if est is None:
        return "no estimate yet"
    from ..core.noise_plan import variance_words

    words = variance_words(est) if est.a > 0 else \
        f"variance {est.b:.4g} at every brightness (Gaussian)"
    return f"edited by hand: {words}" if est.source == "edited" else f"fit: {words}"


def model_words(est: NoiseEstimate) -> str:
    """The model in the status line: no negative read noise printed as a variance."""
    from ..core.noise_plan import variance_words

    if est.model == "poisson-gaussian":
        text = f"noise grows with brightness, {variance_words(est)}"
    else:
        text = f"{est.model.capitalize()} noise, sigma {est.sigma:.4g} (data units)"
    return text + (f" [{est.message}]" if est.message else "")


def bins_cover(points, signal_range) -> tuple[float, float, float] | None:
    """(lowest, highest bin mean, the fraction of ``signal_range`` between them), or None
    when either is unknown."""
    if points is None or not len(points) or signal_range is None:
        return None
    lo, hi = (float(v) for v in signal_range)
    x0, x1 = float(np.min(points[:, 0])), float(np.max(points[:, 0]))
    frac = (min(x1, hi) - max(x0, lo)) / (hi - lo) if hi > lo else 1.0
    return x0, x1, float(min(max(frac, 0.0), 1.0))


def plot_xy(x, y, scale: str):
    """Points as the plot shows them: the variance (linear, log) or its square root,
    the noise std (sqrt); on log axes only positive values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if scale == "sqrt":
        y = np.sqrt(np.clip(y, 0, None))
    if scale == "log":
        keep = (x > 0) & (y > 0)
        x, y = x[keep], y[keep]
    return x, y


def fit_band(est: NoiseEstimate | None, x0: float, x1: float, scale: str, n: int = 64):
    """(x, lower, upper): the fitted line give or take one standard deviation of a and b
    (the fit's bootstrap ``confidence``), as the plot shows it; None without one (or
    for a line edited by hand)."""
    conf = getattr(est, "confidence", None) or {}
    ra, rb = conf.get("rel_a"), conf.get("rel_b")
    if est is None or ra is None or not np.isfinite(ra) or est.source == "edited":
        return None
    da = abs(est.a) * float(ra)
    db = abs(est.b) * (min(float(rb), 1.0) if rb is not None and np.isfinite(rb) else 1.0)
    if scale == "log" and x0 <= 0:
        x0 = x1 * 1e-3 if x1 > 0 else 1e-6
    xs = np.geomspace(x0, x1, n) if scale == "log" and x1 > x0 > 0 else np.linspace(x0, x1, n)
    lo, hi = (est.a - da) * xs + (est.b - db), (est.a + da) * xs + (est.b + db)
    if scale == "sqrt":
        lo, hi = np.sqrt(np.clip(lo, 0, None)), np.sqrt(np.clip(hi, 0, None))
    if scale == "log":  # positive values only; the lower edge floored below the upper
        keep = hi > 0
        xs, lo, hi = xs[keep], lo[keep], hi[keep]
        lo = np.maximum(lo, hi * 1e-3)
    return xs, lo, hi


def fit_line(a: float, b: float, x0: float, x1: float, scale: str, n: int = 64):
    """The fitted ``variance = a * x + b`` over [x0, x1] as the plot shows it."""
    if scale == "log" and x0 <= 0:
        x0 = x1 * 1e-3 if x1 > 0 else 1e-6
    xs = np.geomspace(x0, x1, n) if scale == "log" and x1 > x0 > 0 else np.linspace(x0, x1, n)
    return plot_xy(xs, a * xs + b, scale)


__all__ = [
    "FALLBACK_MEMORY", "GAUSSIAN_MAP_BYTES", "LAYER_MAP_BYTES", "MEMORY_FRACTION",
    "MODEL_MAP_BYTES", "NOISE_MODELS", "SAMPLE_ABOVE", "SOURCE_LAYER", "SOURCE_MODEL",
    "available_memory", "check_layer", "check_map_source", "check_mappable",
    "PLOT_SCALES", "bins_cover", "fit_band", "model_words", "edited_estimate", "fit_line", "fit_noise", "plot_title",
    "plot_xy", "format_bytes", "format_value", "layer_map",
    "map_budget", "map_bytes", "map_meta", "map_summary", "map_too_big",
    "model_map", "read_axes", "require_estimate", "should_sample",
]
