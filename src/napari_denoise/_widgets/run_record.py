"""What a run of the Denoise widget was, as plain data and words (no Qt, no napari).

:func:`run_record` turns a :class:`~.settings.DenoiseSettings` (through its
``engine_kwargs()``, what the engine receives) into the settings an output layer keeps
in its metadata; :func:`settings_label` says them in a few words for layer names;
:func:`slice_label` names the plane a preview shows; :func:`python_snippet` and
:func:`command_line` repeat the run with ``napari_denoise.denoise`` or
``napari-denoise denoise``, with the same arguments, so they give the same array.
"""

from __future__ import annotations

import shlex
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
        "quality": kw["quality"], "precision": kw["precision"], "tune": bool(kw["tune"]),
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
    if rec.get("tune"):
        parts.append("strength chosen on the image")
    elif rec["strength"] != 1.0:
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


def kept_name(layer_name: str, rec: dict) -> str:
    """A result the user keeps: ``"stack denoised (ffdnet_gray, sigma 12.5)"``."""
    return f"{layer_name} denoised ({settings_label(rec)})"


def python_snippet(rec: dict, layer_name: str, map_name: str | None = None) -> str:
    """Python that repeats the run on ``image`` (the layer's array) into ``denoised``."""
    sigma = "noise_map" if rec["noise_level"] == "map" else repr(rec["noise_level"])
    args = [f"sigma={sigma}", f"noise={rec['noise_model']!r}",
            f"strength={rec['strength']!r}", f"destripe={rec['destripe']!r}",
            f"axes={rec['axes']!r}", f"mode={rec['mode']!r}", f"device={rec['device']!r}",
            f"tile={rec['tile']!r}", f"quality={rec['quality']!r}",
            f"precision={rec['precision']!r}"] + (["tune=True"] if rec.get("tune") else [])
    lines = ["import napari_denoise", "",
             f"# image: the array of the layer {layer_name!r}, e.g. "
             f"image = viewer.layers[{layer_name!r}].data"]
    if rec["noise_level"] == "map":
        lines.append(f"# noise_map: the array of the noise-map layer {map_name or 'used'!r}")
    lines.append(f"denoised = napari_denoise.denoise(\n    image, {rec['method']!r},")
    for i in range(0, len(args), 4):
        end = ")" if i + 4 >= len(args) else ","
        lines.append("    " + ", ".join(args[i:i + 4]) + end)
    return "\n".join(lines) + "\n"


def command_line(rec: dict, input_path: str, output_path: str,
                 map_path: str | None = None) -> str:
    """``napari-denoise denoise IN -o OUT ...`` that repeats the run on the file
    ``input_path`` (the layer's data) into ``output_path`` (a per-pixel noise level
    from the file ``map_path``)."""
    words = ["napari-denoise", "denoise", input_path, "-o", output_path,
             "--model", rec["method"]]
    if rec["noise_level"] == "map":
        words += ["--noise-map", map_path or "noise_map.tif"]
    else:
        words += ["--sigma", str(rec["noise_level"]) if isinstance(rec["noise_level"], str)
                  else repr(rec["noise_level"])]
    words += ["--noise", rec["noise_model"], "--strength", repr(rec["strength"])]
    if rec["destripe"]:
        words.append("--destripe")
    words += ["--axes", rec["axes"], "--mode", rec["mode"], "--device", rec["device"]]
    if rec["tile"]:
        words += ["--tile", str(rec["tile"])]
    words += ["--quality", rec["quality"], "--precision", rec["precision"]]
    if rec.get("tune"):
        words.append("--tune")
    return " ".join(shlex.quote(str(w)) for w in words)
