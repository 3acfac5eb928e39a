"""What the Denoise widget's controls say, as plain data (no Qt, no napari).

The widget copies its controls into a :class:`DenoiseSettings`;
:meth:`DenoiseSettings.engine_kwargs` turns that into the keyword arguments of
:func:`napari_denoise.core.inference.denoise_iter`, so the rules of which sigma,
noise, strength, axes, mode, device and tile reach the engine live here and are
tested without a display. :func:`check_input` runs the engine's own cheap input
checks before a worker starts, so a bad input is refused at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..core.axes import AxesError, normalize_axes
from ..core.errors import DenoiseError
from ..core.inference import check_image
from ..core.layout import check_size
from ..core.noise_plan import NOISE_MODELS  # noqa: F401 - the engine's, "auto" first
from ..core.normalise import sample_values

#: how the noise level is given: estimated, a number, or a per-pixel map (a layer)
NOISE_MODES = ("auto", "manual", "map")
#: processing modes: (label, the engine's ``mode``)
MODES = (("2D slice by slice", "2d"), ("3D volume", "3d"))

NO_MODEL = ("no denoising method is available (no pretrained weights, classical methods "
            "or models of yours were found)")
NO_MAP = ("choose a noise-map layer (an image with the noise sigma of every pixel), or set "
          "the noise level to auto or manual")


@dataclass
class DenoiseSettings:
    """The Denoise widget's settings for one run."""

    model: str | None = None        # a model name, or the path of a user model
    noise_mode: str = "auto"        # one of NOISE_MODES
    sigma: float = 0.05             # the manual noise sigma, in the data's units
    estimate: float | None = None   # the Gaussian estimate of the input, when known (auto)
    noise_map: Any = None           # map mode: an array of the input's shape
    noise_model: str = "auto"       # one of NOISE_MODELS
    strength: float = 1.0
    tune_strength: bool = False     # choose the strength on the image (self-supervised score)
    destripe: bool = False
    axes: str = ""
    mode: str = "2d"                # "2d" or "3d"
    device: str = "auto"
    tile: int = 0                   # 0: chosen by the engine from the memory available
    quality: str = "fast"           # "best": the x8 flips-and-rotations ensemble
    precision: str = "auto"         # "auto", "fp32" or "bf16"

    def noise_level(self):
        """The noise level the controls hold: the manual sigma, the map, or in auto mode
        the estimate when there is one (else ``"auto"``)."""
        if self.noise_mode == "manual":
            return float(self.sigma)
        if self.noise_mode == "map":
            if self.noise_map is None:
                raise DenoiseError(NO_MAP)
            return self.noise_map
        return self.estimate if self.estimate is not None else "auto"

    def engine_kwargs(self) -> dict:
        """Keyword arguments of ``denoise_iter(image, **kwargs)``.

        auto: the estimate is passed for the Gaussian model; any other model is fitted
        by the engine (sigma "auto"). map: the map is used as it is, strength 1 (the
        Noise map widget's map already includes its own strength).
        """
        if self.model is None:
            raise DenoiseError(NO_MODEL)
        noise = self.noise_model or "auto"
        sigma = self.noise_level()
        strength = float(self.strength)
        if self.noise_mode == "map":
            strength = 1.0
        elif self.noise_mode == "auto" and noise != "gaussian":
            sigma = "auto"
        # a map holds its own strength: nothing to choose
        tune = bool(self.tune_strength) and self.noise_mode != "map"
        return dict(model=self.model, sigma=sigma, noise=noise, strength=strength,
                    destripe=bool(self.destripe), axes=self.axes, mode=self.mode or "2d",
                    device=self.device or "auto", tile=int(self.tile) or None,
                    quality=self.quality or "fast", precision=self.precision or "auto",
                    tune=tune)

    def for_plane(self, rgb: bool, noise_map_plane=None) -> DenoiseSettings:
        """The settings for one 2-D plane of the input (the preview): axes YX (YXC for
        RGB), slice by slice, and the same plane of the noise map."""
        return replace(self, axes="YXC" if rgb else "YX", mode="2d", noise_map=noise_map_plane)


def check_input(image, kwargs: dict, *, rgb: bool = False) -> None:
    """Refuse at once, with a :class:`DenoiseError`, what the engine would refuse on
    its first step: the type and size of ``image``, its axes, the noise map's shape and
    an image without a single finite value.

    These are the engine's own checks (``check_image``, ``normalize_axes``,
    ``check_size``), run on the main thread so that a bad input never starts a
    worker; the engine runs them again. Everything else it finds (a few NaN values,
    a 3-D model on 2-D data, a bad tile size) arrives from the worker.
    """
    image = check_image(image)
    shape = tuple(image.shape)
    try:
        axes = normalize_axes(kwargs.get("axes") or "", image.ndim)
    except AxesError as exc:
        raise DenoiseError(f"{exc} (shape {shape})") from None
    if rgb and not axes.endswith("C"):
        raise DenoiseError(f"an RGB image's axes end with C (such as YXC), not {axes}")
    check_size(shape, axes)
    sigma = kwargs.get("sigma")
    if hasattr(sigma, "shape") and tuple(sigma.shape) != shape:
        raise DenoiseError(f"noise map shape {tuple(sigma.shape)} differs from the "
                           f"image's {shape}")
    if isinstance(image, np.ndarray) and image.dtype.kind == "f" and \
            not np.isfinite(sample_values(image)).any():
        raise DenoiseError("the image contains only NaN or infinite values")
