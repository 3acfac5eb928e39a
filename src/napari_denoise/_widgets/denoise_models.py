"""The models the Denoise widget offers, and their cards as text (no Qt, no napari).

The list is the library's :func:`napari_denoise.api.list_models`; these helpers only
order, key and describe its entries.
"""

from __future__ import annotations

import logging

from ..api import list_models
from ..core.models import DEFAULT_MODEL

logger = logging.getLogger(__name__)

KIND_LABELS = {"auto": "Automatic", "pretrained": "Pretrained", "classical": "Classical",
               "user": "Your models"}
KIND_ORDER = ("auto", "pretrained", "classical", "user")
#: listed first among the pretrained models
DEFAULT_NETWORK = DEFAULT_MODEL

CARD_FIELDS = [("Architecture", "arch"), ("Architecture arguments", "arch_args"),
               ("Dimensions", "dims"), ("Channels", "channels"), ("Noise model", "noise_model"),
               ("Noise levels (sigma, 0-255 scale)", "sigma_range"),
               ("Normalisation", "normalisation"), ("Training data", "training_data"),
               ("Parameters", "parameters"), ("Licence", "licence"),
               ("Limitations", "limitations"),
               ("Replaces (these names still work)", "replaces"),
               ("Measured inference (bf16 cost, x8 ensemble gain)", "inference")]


def available_models() -> list[dict]:
    """:func:`napari_denoise.list_models`; an empty list (and a logged warning) when the
    model folders cannot be read."""
    try:
        return list_models()
    except (OSError, ValueError) as exc:  # an unreadable weights folder or model card
        logger.warning("could not list the models: %s", exc)
        return []


def with_automatic(entries: list[dict]) -> list[dict]:
    """``entries`` and, when the default network is among them, an "Automatic" entry
    (``model="auto"``): the engine's own choice for the data, as on the command line and
    in Python."""
    from ..core.noise_plan import POISSON_MODEL

    names = {e["name"] for e in entries}
    if DEFAULT_NETWORK not in names:
        return list(entries)
    what = (f"{POISSON_MODEL} for single-channel images whose noise grows with brightness "
            f"(fluorescence, camera noise), {DEFAULT_NETWORK} otherwise (Gaussian noise, "
            f"photos, CT)") if POISSON_MODEL in names else DEFAULT_NETWORK
    auto = {"name": "auto", "kind": "auto", "card": {}, "path": "", "dims": [2],
            "needs_sigma": True, "description": f"Chosen for the data: {what}."}
    return [auto] + [e for e in entries if e["name"] != "auto"]


def model_key(entry: dict) -> str:
    """What is passed to the engine as ``model``: a name, or the path of a user model."""
    return entry["path"] if entry["kind"] == "user" and entry.get("path") else entry["name"]


def model_dims(entry: dict) -> tuple[int, ...]:
    """Spatial dims a model runs on (``list_models``' ``dims``)."""
    return tuple(int(d) for d in entry.get("dims") or (2,))


def model_is_blind(entry: dict) -> bool:
    """True for networks that ignore the noise level (DnCNN, U-Net); False for the
    others and for a model whose card could not be read."""
    if "error" in (entry.get("card") or {}):
        return False
    return not entry.get("needs_sigma", True)


def ordered_models(entries: list[dict]) -> list[dict]:
    """Pretrained (the default network first), classical, then the user's models."""
    def rank(e):
        kind = KIND_ORDER.index(e["kind"]) if e["kind"] in KIND_ORDER else len(KIND_ORDER)
        return kind, e["name"] != DEFAULT_NETWORK
    return sorted(entries, key=rank)


#: what the shipped models and classical methods are called in the lists (their file
#: names are in their cards)
PLAIN_NAMES = {
    "drunet_gray": "U-Net for photos and general images",
    "drunet_microscopy": "U-Net for fluorescence microscopy",
    "ffdnet_gray": "FFDNet (grey, noise level given)",
    "dncnn_blind": "DnCNN (grey, any noise level)",
    "bm3d": "BM3D (classical, slow, the best of them)",
    "nlm": "Non-local means (classical)",
    "tv": "Total variation (classical, fast)",
    "wavelet": "Wavelet shrinkage (classical, fastest)",
    "nn3d": "Network refined by BM3D (slow)",
}


def model_label(entry: dict) -> str:
    """How a model is listed: ``"U-Net for fluorescence microscopy"``, ``"Pretrained:
    name"`` for a shipped one without a plain name, ``"Your models: name"``,
    ``"Automatic (chosen for the data)"``."""
    if entry["kind"] == "auto":
        return "Automatic (chosen for the data)"
    if entry["kind"] in ("pretrained", "classical") and entry["name"] in PLAIN_NAMES:
        return PLAIN_NAMES[entry["name"]]
    return f"{KIND_LABELS.get(entry['kind'], entry['kind'])}: {entry['name']}"


def format_card(entry: dict) -> str:
    """A model card as plain text (without its pointers into the source repository)."""
    from ..core.weights import card_for_display

    card = card_for_display(dict(entry.get("card") or {}))
    kind = KIND_LABELS.get(entry["kind"], entry["kind"])
    lines = [f"{PLAIN_NAMES.get(entry['name'], entry['name'])}", f"Name: {entry['name']}  "
             f"({kind}; what Python and the command line call it)", ""]
    if entry.get("description"):
        lines += [entry["description"], ""]
    if entry["kind"] == "classical":
        lines.append("Classical method: no training data, works on any noise level you set.")
        return "\n".join(lines)
    if entry["kind"] == "auto":
        lines.append("The model cards of the networks it chooses from are under their own "
                     "names in the list.")
        return "\n".join(lines)
    if "error" in card:
        lines.append(f"The model card could not be read: {card['error']}")
        return "\n".join(lines)
    for title, key in CARD_FIELDS:
        if card.get(key) not in (None, "", {}, []):
            lines.append(f"{title}: {card[key]}")
    metrics = card.get("metrics") or {}
    if metrics:
        lines += ["", "Metrics:"]
        lines += [f"  {k}: {v}" for k, v in metrics.items()]
    if entry.get("path"):
        lines += ["", f"File: {entry['path']}"]
    return "\n".join(lines)
