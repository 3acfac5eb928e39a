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


def register_arch(name: str):
    def deco(factory):
        _ARCHS[name] = factory
        return factory
    return deco


_BUILTIN = {"dncnn": "DnCNN", "ffdnet": "FFDNet", "unet": "UNet", "drunet": "DRUNet"}


def _register_builtin() -> None:
    """Add the built-in architectures (once; a name registered first by a user is kept)."""
    if all(name in _ARCHS for name in _BUILTIN):
        return
    from . import archs

    for name, cls in _BUILTIN.items():
        _ARCHS.setdefault(name, getattr(archs, cls))


def arch_names() -> list[str]:
    _register_builtin()
    return sorted(_ARCHS)


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
