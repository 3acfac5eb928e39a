"""napari widgets (the only part of the package that imports napari, magicgui or Qt)."""

from .denoise import DenoiseWidget

__all__ = ["DenoiseWidget"]
