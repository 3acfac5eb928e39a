"""Name -> architecture, and name -> shipped pretrained weights with model cards.

Architectures register with :func:`register_arch`; pretrained weights are the
``*.safetensors`` files with a ``.json`` model card beside them in the weights
folder (packaged into the wheel as ``napari_denoise/_weights``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

_ARCHS: dict[str, Callable[..., Any]] = {}
_DESCRIPTIONS: dict[str, str] = {}
# the architecture files of this package register here (``builtin=True``);
# they join ``_ARCHS`` without replacing a name a user registered first
_BUILTIN_FACTORIES: dict[str, Callable[..., Any]] = {}
_BUILTIN_DESCRIPTIONS: dict[str, str] = {
    "drunet": "Slim DRUNet-style residual U-Net (Zhang et al. 2021) with a noise-level "
              "map input; bias-free by default",
}


def register_arch(name: str, description: str = "", *, builtin: bool = False):
    """Decorator: register an architecture factory (a class or a function) under ``name``.

    ``description`` is a one-line summary shown by ``list_architectures()``. A user's
    registration replaces an earlier one of the same name; ``builtin=True`` (used by
    the package's own architecture files) never replaces a name already taken.
    """
    key = name.lower()

    def deco(factory):
        if builtin:
            _BUILTIN_FACTORIES[key] = factory
            _BUILTIN_DESCRIPTIONS[key] = description
            if key not in _ARCHS:
                _ARCHS[key] = factory
                _DESCRIPTIONS[key] = description
        else:
            _ARCHS[key] = factory
            _DESCRIPTIONS[key] = description
        return factory
    return deco


# drunet.py (kept unchanged) does not register itself: added here by class name
_BUILTIN = {"drunet": "DRUNet"}


def _register_builtin() -> None:
    """Add the built-in architectures (a name registered first by a user is kept)."""
    from . import archs

    for name, factory in _BUILTIN_FACTORIES.items():
        _ARCHS.setdefault(name, factory)
        _DESCRIPTIONS.setdefault(name, _BUILTIN_DESCRIPTIONS.get(name, ""))
    for name, cls in _BUILTIN.items():
        _ARCHS.setdefault(name, getattr(archs, cls))
        _DESCRIPTIONS.setdefault(name, _BUILTIN_DESCRIPTIONS.get(name, ""))


def arch_description(name: str) -> str:
    _register_builtin()
    return _DESCRIPTIONS.get(name.lower(), "")


def arch_names() -> list[str]:
    _register_builtin()
    return sorted(_ARCHS)


def arch_takes_map(name: str | None) -> bool:
    """Whether a registered architecture takes a noise-level map (its class says so,
    ``takes_noise_map``); False for an unknown name or a factory function."""
    _register_builtin()
    factory = _ARCHS.get(str(name or "").lower())
    return bool(getattr(factory, "takes_noise_map", False))


def create_arch(name: str, **kwargs):
    """Instantiate a registered architecture with its keyword arguments."""
    _register_builtin()
    key = name.lower()
    if key not in _ARCHS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(_ARCHS))}")
    return _ARCHS[key](**kwargs)


def weights_dirs() -> list[Path]:
    """Folders searched for shipped weights: inside the installed package, then the source tree."""
    pkg = Path(__file__).resolve().parent.parent
    dirs = [pkg / "_weights", pkg.parent.parent / "weights"]
    return [d for d in dirs if d.is_dir()]


@dataclass
class PretrainedEntry:
    name: str
    path: Path
    card: dict = field(repr=False)

    @property
    def description(self) -> str:
        return self.card.get("description", "")


def pretrained_entries() -> dict[str, PretrainedEntry]:
    out: dict[str, PretrainedEntry] = {}
    for d in weights_dirs():
        for card_path in sorted(d.glob("*.json")):
            st = card_path.with_suffix(".safetensors")
            if not st.exists():
                continue
            card = json.loads(card_path.read_text())
            name = card.get("name", card_path.stem)
            out.setdefault(name, PretrainedEntry(name, st, card))
    return out
