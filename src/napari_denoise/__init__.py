"""napari-denoise: deep-learning and classical image denoising for napari and Python.

>>> import napari_denoise as nd
>>> clean = nd.denoise(noisy)                     # FFDNet, noise level estimated
>>> clean = nd.denoise(stack, model="dncnn_blind", axes="ZYX")
>>> nd.list_models()
>>> trained = nd.train_noise2noise(noisy_stack, minutes=5)   # self-training, no clean data
>>> clean = nd.denoise(noisy_stack, model=trained)

Importing this package does not import torch; the first denoising call does.
"""

from __future__ import annotations

try:
    from ._version import __version__
except ImportError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0.dev0"

from .api import (TrainedModel, create_network, denoise, denoise_iter, estimate_noise,
                  export_model, list_architectures, list_models, load_model, remove_stripes,
                  save_model,
                  score, train_noise2noise, train_noise2noise_iter, tune)
from .core.chunked import denoise_to_zarr
from .core.plane_view import DenoisedPlanes
from .core.inference import Cancelled, DenoiseError, DenoiseResult, Progress
from .core.noise import NoiseEstimate
from .core.score import ResidualStats, Score
from .core.tune import Tuned
from .core.training.losses import list_losses

__all__ = [
    "Cancelled",
    "DenoiseError",
    "DenoiseResult",
    "Progress",
    "denoise",
    "denoise_iter",
    "denoise_to_zarr",
    "DenoisedPlanes",
    "estimate_noise",
    "NoiseEstimate",
    "remove_stripes",
    "score",
    "tune",
    "Score",
    "ResidualStats",
    "Tuned",
    "list_models",
    "list_architectures",
    "create_network",
    "export_model",
    "list_losses",
    "load_model",
    "save_model",
    "train_noise2noise",
    "train_noise2noise_iter",
    "TrainedModel",
]
