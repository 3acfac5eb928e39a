"""napari widgets (the only part of the package that imports napari, magicgui or Qt)."""

from .compare import CompareWidget
from .denoise import DenoiseWidget
from .noise_map import NoiseMapWidget
from .train import TrainWidget

__all__ = ["CompareWidget", "DenoiseWidget", "NoiseMapWidget", "TrainWidget"]
