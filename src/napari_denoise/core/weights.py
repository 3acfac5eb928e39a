"""Weights on disk: safetensors files with a JSON model card.

A saved model is self-contained: the card is stored in the safetensors metadata
(key ``napari_denoise.card``) and, for shipped weights, also beside the file as
``NAME.json`` with the file's sha256. Loading never unpickles: safetensors, or
``torch.load(weights_only=True)`` for PyTorch checkpoints a user brings.
"""

from __future__ import annotations

import hashlib
import os
import json
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import WeightsError

CARD_KEY = "napari_denoise.card"

# key -> allowed types; the schema every model card follows
CARD_SCHEMA: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "description": (str,),
    "arch": (str,),
    "arch_args": (dict,),
    "dims": (int,),
    "channels": (int,),
    "noise_model": (str,),
    "sigma_range": (list,),
    "normalisation": (str,),
    "training_data": (str,),
    "recipe": (str,),
    "metrics": (dict,),
    "licence": (str,),
    "limitations": (str,),
}
SHIPPED_KEYS = ("sha256", "file_size")


#: card entries that point into the source repository (benchmark commands, protocols,
#: recipe files): kept in the card, left out of what the widget and `models` show
PROVENANCE_KEYS = ("protocol", "command", "reference", "command_that_closes_it", "recipe")


def card_for_display(card):
    """The card without its provenance entries (recursively): what users are shown."""
    if isinstance(card, dict):
        return {k: card_for_display(v) for k, v in card.items() if k not in PROVENANCE_KEYS}
    return card


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ModelCard(BaseModel):
    """The schema every model card follows: the keys of :data:`CARD_SCHEMA`, typed, plus
    the optional ones below; any other key is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    description: str
    arch: str
    arch_args: dict
    dims: Literal[2, 3]
    channels: int
    noise_model: str
    sigma_range: list[Union[int, float]] = Field(min_length=2, max_length=2)
    normalisation: str
    training_data: str
    recipe: str
    metrics: dict
    parameters: Optional[int] = None  # counted by save_model; a hand-written card may omit it
    licence: str
    limitations: str
    # shipped weights: the file's hash and size, written beside it
    sha256: Optional[str] = None
    file_size: Optional[int] = None
    # training details, gaps to published numbers, a self-trained model's data range
    training: Optional[dict] = None
    published_gap: Optional[dict] = None
    data_range: Optional[list[Union[int, float]]] = None
    # measured inference settings: {"bf16_psnr_cost_db": ..., "ensemble_gain_db": ...}
    # (benchmarks/precision.py); bf16 runs by default on CPU only within the tolerance
    inference: Optional[dict] = None
    # names of retired models this one replaces: they keep working as aliases of it
    replaces: Optional[list[str]] = None
    # how the weights are stored when not as float tensors ("int8": see save_model)
    storage: Optional[str] = None
    # the noise domain a model was trained in and is always applied in: "raw" (the
    # data's intensities) or "gat", with noise_transform {"kind": "gat", "a", "b"}
    # (data units); the engine applies that transform and its exact unbiased inverse
    noise_domain: Optional[Literal["raw", "gat"]] = None
    noise_transform: Optional[dict] = None


def validate_card(card: dict, shipped: bool = False) -> None:
    """Raise :class:`WeightsError` listing every problem of a model card, by key."""
    problems = []
    try:
        ModelCard.model_validate(card)
    except ValidationError as exc:
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"])
            if e["type"] == "missing":
                problems.append(f"missing {key!r}")
            elif e["type"] == "extra_forbidden":
                problems.append(f"unknown key {key!r}")
            elif key == "dims":
                problems.append("'dims' should be 2 or 3")
            elif key.startswith("sigma_range"):
                problems.append("'sigma_range' should be [low, high] in 0-255 units")
            else:
                problems.append(f"{key!r}: {e['msg']}")
    if shipped:
        problems += [f"missing {k!r}" for k in SHIPPED_KEYS if k not in card]
    if problems:
        raise WeightsError(f"model card {card.get('name', '?')!r}: " +
                           "; ".join(dict.fromkeys(problems)))


INT8_SCALE = ".int8_scale"


def _to_int8(v):
    """Symmetric int8 with one float32 scale per slice of the first dimension (output
    channels of a convolution): (int8 tensor, scales)."""
    import torch

    flat = v.float().reshape(v.shape[0], -1)
    scale = flat.abs().amax(1).clamp_min(1e-12) / 127.0
    q = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.reshape(v.shape), scale


def _from_int8(state: dict) -> dict:
    """Undo :func:`_to_int8` for every tensor stored with a scale beside it."""
    out = {}
    for k, v in state.items():
        if k.endswith(INT8_SCALE):
            continue
        scale = state.get(k + INT8_SCALE)
        if scale is not None:
            v = v.float() * scale.float().view((-1,) + (1,) * (v.ndim - 1))
        out[k] = v
    return out


def save_model(model, path: str | Path, card: dict, *, half: bool = False,
               int8: bool = False, write_card_json: bool = False) -> Path:
    """Save ``model``'s weights and card to ``path`` (.safetensors), atomically.

    ``half``: floating tensors in float16. ``int8``: weight arrays (2 or more dimensions)
    as int8 with a float32 scale per output channel, about half the size of float16
    (the shipped U-Nets: -0.006 dB on the cards' regression image); loading restores
    float32."""
    from safetensors.torch import save_file
    import torch

    path = Path(path)
    if path.suffix != ".safetensors":  # append: "scope.v2" must not become "scope"
        path = path.with_name(path.name + ".safetensors")
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if int8 and v.is_floating_point() and v.ndim >= 2:
            v, state[k + INT8_SCALE] = _to_int8(v)
        elif half and v.is_floating_point() and "running_var" not in k:
            v = v.to(torch.float16)
        state[k] = v
    card = dict(card)
    card["parameters"] = int(sum(p.numel() for p in model.parameters()))
    validate_card(card)
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        save_file(state, str(tmp), metadata={CARD_KEY: json.dumps(card)})
        os.chmod(tmp, 0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    if write_card_json:
        card["sha256"] = sha256(path)
        card["file_size"] = path.stat().st_size
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return path


def read_card(path: str | Path) -> dict:
    """The model card of a weights file.

    The card embedded in a safetensors file is the reference; a ``NAME.json``
    beside it (shipped weights: sha256, measured metrics) is merged over it
    when it describes the same model, and is used alone for ``.pt`` files.
    """
    path = Path(path)
    side = path.with_suffix(".json")
    side_card = _json_card(side.read_text(), side.name) if side.exists() else None
    embedded = None
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
        except Exception as exc:  # safetensors raises its own error types
            raise WeightsError(f"{path.name}: not a readable safetensors file ({exc})") from None
        if CARD_KEY in meta:
            embedded = _json_card(meta[CARD_KEY], path.name)
    if embedded is not None:
        if side_card is not None and side_card.get("name") == embedded.get("name"):
            return {**embedded, **side_card}
        return embedded
    if side_card is not None:
        return side_card
    raise WeightsError(f"{path.name}: no model card (expected {side.name} or metadata in the file)")


def _json_card(text: str, where: str) -> dict:
    try:
        card = json.loads(text)
    except ValueError as exc:
        raise WeightsError(f"{where}: the model card is not valid JSON ({exc})") from None
    if not isinstance(card, dict):
        raise WeightsError(f"{where}: the model card is not a JSON object")
    return card


def load_state(path: str | Path) -> dict:
    """Tensors of a weights file, without ever unpickling arbitrary objects."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return _from_int8(load_file(str(path)))
        except Exception as exc:
            raise WeightsError(
                f"{path.name}: corrupt or truncated safetensors file ({type(exc).__name__}: {exc})"
            ) from None
    if path.suffix in (".pt", ".pth", ".ckpt"):
        import torch

        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(
                f"{path.name}: cannot be loaded safely (weights_only=True refused it: "
                f"{str(exc).splitlines()[0][:200]}). Re-save it as safetensors."
            ) from None
        if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
            obj = obj["model"]
        if not isinstance(obj, dict):
            raise WeightsError(f"{path.name}: expected a state dict of tensors")
        return obj
    raise WeightsError(f"{path.name}: unsupported weights format (use .safetensors)")


def build_model(card: dict, state: dict | None = None):
    """Instantiate the card's architecture and load ``state`` into it (fp32)."""
    from .registry import create_arch

    try:
        model = create_arch(card["arch"], **card.get("arch_args", {}))
    except (TypeError, ValueError, KeyError) as exc:  # unknown arch or arguments in the card
        raise WeightsError(f"the model card does not describe a known network "
                           f"({card.get('arch')!r} {card.get('arch_args')}): "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                           ) from None
    if state is not None:
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(
                f"weights do not match architecture {card['arch']} {card.get('arch_args')}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
    return model


def load_model(path: str | Path, *, verify_sha: str | None = None) -> tuple[Any, dict]:
    """(model in eval mode, card) from a weights file; checks the sha256 when given."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file not found: {path}")
    if verify_sha is not None and sha256(path) != verify_sha:
        raise WeightsError(
            f"{path.name}: sha256 does not match its model card (file corrupt or replaced)"
        )
    card = read_card(path) if path.suffix == ".safetensors" or path.with_suffix(".json").exists() \
        else None
    if card is None:
        raise WeightsError(f"{path.name}: no model card; save models with napari_denoise.save_model")
    try:
        validate_card(card)
    except WeightsError as exc:
        raise WeightsError(f"{path.name}: {exc}") from None
    state = load_state(path)
    model = build_model(card, state).eval()
    return model, card
