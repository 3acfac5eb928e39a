"""What is exported: a network (float32, unfolded, as its architecture defines it) and its
model card, from whatever a user names as ``model``."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DenoiseError, ModelNotFoundError


@dataclass
class Exportable:
    module: Any          # torch.nn.Module, eval mode, float32, CPU
    card: dict           # the model card ({} for a bare network)
    name: str

    @property
    def in_channels(self) -> int:
        return int(getattr(self.module, "in_channels", self.card.get("channels", 1)))

    @property
    def takes_map(self) -> bool:
        return bool(getattr(self.module, "takes_noise_map", False))

    @property
    def size_multiple(self) -> int:
        return int(getattr(self.module, "size_multiple", 1) or 1)


def _from_file(path: Path) -> tuple[Any, dict]:
    from ..weights import load_model

    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}")
    if path.suffix.lower() in (".zip", ".yaml", ".yml") or path.is_dir():
        raise DenoiseError(f"{path.name} is a BioImage Model Zoo package already; export "
                           f"the model it came from (a name or a .safetensors file)")
    return load_model(path)


def exportable(model) -> Exportable:
    """The network and card of ``model``: a shipped or user model name, a .safetensors
    path, a trained-model object (``.module`` and ``.card``) or an ``nn.Module``."""
    from torch import nn

    mod = getattr(model, "module", None)
    if mod is not None and hasattr(model, "card"):  # a trained model: copy, it may train on
        card = dict(model.card)
        module = copy.deepcopy(mod)
    elif isinstance(model, nn.Module):
        card, module = {}, copy.deepcopy(model)
    elif isinstance(model, (str, Path)):
        module, card = _by_name(model)
    else:
        raise ModelNotFoundError(f"model must be a name, a path or a network, not "
                                 f"{type(model).__name__}")
    module = module.float().eval().to("cpu")
    if int(getattr(module, "dims", card.get("dims", 2))) != 2:
        raise DenoiseError(f"{card.get('name', type(module).__name__)} is a 3-D network; "
                           f"only 2-D networks can be exported")
    if not hasattr(module, "in_channels"):
        raise DenoiseError(f"{type(module).__name__} has no 'in_channels': export networks "
                           f"built by napari_denoise.create_network or trained here")
    name = str(card.get("name") or type(module).__name__)
    return Exportable(module, card, name)


def _by_name(model) -> tuple[Any, dict]:
    from ..classical import CLASSICAL
    from ..models import aliases, user_model_paths
    from ..registry import pretrained_entries
    from ..weights import load_model

    text = str(model)
    p = Path(text).expanduser()
    if isinstance(model, Path) or text.endswith((".safetensors", ".pt", ".pth", ".zip")) \
            or "/" in text or p.exists():
        return _from_file(p)
    entries = pretrained_entries()
    key = aliases(entries).get(text.lower(), text.lower())
    if key in CLASSICAL:
        raise DenoiseError(f"{key} is a classical method, not a network: there is nothing "
                           f"to export")
    if key in entries:
        e = entries[key]
        return load_model(e.path, verify_sha=e.card.get("sha256"))
    users = user_model_paths()
    if text in users:
        return load_model(users[text])
    nets = sorted(set(entries) | set(users))
    raise ModelNotFoundError(f"unknown model {text!r}; networks that can be exported: "
                             f"{', '.join(nets)}")
