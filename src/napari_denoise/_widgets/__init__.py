"""napari widgets (the only part of the package that imports napari, magicgui or Qt)."""

from .denoise import DenoiseWidget
from .noise_map import NoiseMapWidget
from .train import TrainWidget

__all__ = ["DenoiseWidget", "NoiseMapWidget", "TrainWidget"]
