"""Import boundaries: the compute core never pulls in Qt, napari or magicgui, and
importing the package does not import torch (napari's plugin menu stays fast)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

# modules outside the core that must stay GUI-free as well
NON_CORE_MODULES = [
    "napari_denoise.api", "napari_denoise.cli", "napari_denoise.io",
    "napari_denoise._sample_data",
]
# named here so that a broken discovery cannot pass by finding nothing
MUST_BE_FOUND = {
    "napari_denoise.core.inference", "napari_denoise.core.noise", "napari_denoise.core.rician",
    "napari_denoise.core.stripes", "napari_denoise.core.vst", "napari_denoise.core.normalise",
    "napari_denoise.core.guard", "napari_denoise.core.limits",
    "napari_denoise.core.archs.drunet", "napari_denoise.core.training.n2n",
    "napari_denoise.core.training.supervised",
}


def core_modules() -> list[str]:
    """Every module of the napari_denoise.core package, found by walking its folder
    (without importing it): new modules are covered automatically."""
    spec = importlib.util.find_spec("napari_denoise.core")
    root = Path(next(iter(spec.submodule_search_locations)))
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = ("napari_denoise", "core") + path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _imported_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_never_imports_gui_toolkits():
    core = core_modules()
    assert MUST_BE_FOUND <= set(core), sorted(MUST_BE_FOUND - set(core))
    mods = _imported_after("\n".join(f"import {m}" for m in NON_CORE_MODULES + core) +
                           "\nimport numpy as np, napari_denoise as nd"
                           "\nnd.denoise(np.random.rand(32, 32), 'wavelet', sigma=0.1)")
    for gui in ("qtpy", "PyQt5", "PyQt6", "PySide6", "napari", "magicgui", "vispy"):
        assert gui not in mods, f"{gui} imported by the compute core"


def test_package_import_is_light():
    mods = _imported_after("import napari_denoise")
    assert "torch" not in mods
    assert "napari" not in mods
