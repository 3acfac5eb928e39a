"""What a run of the Denoise widget was, as plain data and words (no Qt, no napari).

:func:`run_record` turns a :class:`~.settings.DenoiseSettings` (through its
``engine_kwargs()``, what the engine receives) into the settings an output layer keeps
in its metadata; :func:`settings_label` says them in a few words for layer names;
:func:`slice_label` names the plane a preview shows.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from .settings import DenoiseSettings

#: how the noise level was given (the settings' noise_mode) in words
LEVEL_FROM = {"auto": "estimated", "manual": "manual", "map": "map"}


def run_record(settings: DenoiseSettings) -> dict[str, Any]:
    """The settings of a run as JSON-like values: what the engine was given
    (``engine_kwargs()``), with the noise level as a number, ``"auto"`` (the engine
    estimates it) or ``"map"`` (a per-pixel map, not stored), and where it came from."""
    kw = settings.engine_kwargs()
    sigma = kw["sigma"]
    if hasattr(sigma, "shape"):
        level: Any = "map"
    elif isinstance(sigma, str):
        level = sigma
    else:
        level = float(sigma)
    return {
        "method": str(kw["model"]), "noise_model": kw["noise"], "noise_level": level,
        "noise_level_from": LEVEL_FROM.get(settings.noise_mode, settings.noise_mode),
        "strength": float(kw["strength"]), "destripe": bool(kw["destripe"]),
        "axes": kw["axes"], "mode": kw["mode"], "device": kw["device"], "tile": kw["tile"],
        "quality": kw["quality"], "precision": kw["precision"],
    }


def method_name(method: str) -> str:
    """A model's name: a user model's file name without its folder and extension."""
    if method.endswith(".safetensors") or "/" in method or "\\" in method:
        return PurePath(method).stem
    return method


def settings_label(rec: dict) -> str:
    """A run's settings in a few words: ``"ffdnet_gray, sigma 12.5 (estimated)"``,
    ``"bm3d, noise map, strength 1.5"``, ``"drunet_gray, Poisson-Gaussian noise estimated,
    best quality"``."""
    parts = [method_name(rec["method"])]
    level, model = rec["noise_level"], rec["noise_model"]
    if level == "map":
        parts.append("noise map")
    elif level == "auto":
        parts.append("noise estimated" if model in ("auto", "gaussian")
                     else f"{model} noise estimated")
    else:
        text = f"sigma {level:.4g}"
        if rec.get("noise_level_from") == "estimated":
            text += " (estimated)"
        parts.append(text)
    if rec["strength"] != 1.0:
        parts.append(f"strength {rec['strength']:g}")
    if rec["destripe"]:
        parts.append("stripes removed")
    if rec["quality"] == "best":
        parts.append("best quality")
    return ", ".join(parts)


def slice_label(index: tuple, axes: str) -> str:
    """The plane ``index`` (an int on each dim not shown, slices on the two shown)
    names: ``"Z 5"``, ``"T 2, Z 5"``; "" for a 2-D image. ``axes`` are the layer's
    (letters for its dims; an RGB layer's trailing C has no index)."""
    out = []
    for k, i in enumerate(index):
        if isinstance(i, int):
            letter = axes[k] if k < len(axes) else ""
            out.append(f"{letter} {i}" if letter else f"axis {k}: {i}")
    return ", ".join(out)


def preview_name(layer_name: str, plane: str, rec: dict) -> str:
    """``"stack preview, Z 5 (ffdnet_gray, sigma 12.5)"``: which plane, which settings."""
    where = f", {plane}" if plane else ""
    return f"{layer_name} preview{where} ({settings_label(rec)})"
