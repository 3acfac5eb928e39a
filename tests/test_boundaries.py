"""Import boundaries: the compute core never pulls in Qt, napari or magicgui, and
importing the package does not import torch (napari's plugin menu stays fast)."""

import subprocess
import sys

CORE_MODULES = [
    "napari_denoise.api", "napari_denoise.cli", "napari_denoise.io",
    "napari_denoise._sample_data", "napari_denoise.core.inference",
    "napari_denoise.core.models", "napari_denoise.core.classical", "napari_denoise.core.noise",
    "napari_denoise.core.tiling", "napari_denoise.core.axes", "napari_denoise.core.weights",
    "napari_denoise.core.registry", "napari_denoise.core.archs",
    "napari_denoise.core.training.supervised",
]


def _imported_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_never_imports_gui_toolkits():
    mods = _imported_after("\n".join(f"import {m}" for m in CORE_MODULES) +
                           "\nimport numpy as np, napari_denoise as nd"
                           "\nnd.denoise(np.random.rand(32, 32), 'wavelet', sigma=0.1)")
    for gui in ("qtpy", "PyQt5", "PyQt6", "PySide6", "napari", "magicgui", "vispy"):
        assert gui not in mods, f"{gui} imported by the compute core"


def test_package_import_is_light():
    mods = _imported_after("import napari_denoise")
    assert "torch" not in mods
    assert "napari" not in mods
