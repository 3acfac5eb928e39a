"""Honest limits: noise levels a model was not trained for, and ones that make no sense.

Noise levels are compared on the 0-255 scale of the model cards: a sigma in
data units divided by the data range the networks see, times 255.
"""

from __future__ import annotations

import numpy as np

from .errors import DenoiseError

#: a noise std above this share of the data's whole range is not noise on this image
MAX_SENSIBLE_SIGMA = 1.0
#: warn when sigma exceeds the model's trained range by more than this factor
TOLERANCE = 1.1


def trained_range(card: dict) -> tuple[float, float] | None:
    sr = card.get("sigma_range") if isinstance(card, dict) else None
    if isinstance(sr, (list, tuple)) and len(sr) == 2 and float(sr[1]) > 0:
        return float(sr[0]), float(sr[1])
    return None


def check_sigma(sigma_norm, model_name: str, card: dict, data_span: float,
                what: str = "sigma") -> list[str]:
    """Warnings for a noise level ``sigma_norm`` (a number or a map, in units of the data
    range the model sees); a :class:`DenoiseError` when it is beyond any sense."""
    if sigma_norm is None:
        return []
    level = float(np.median(sigma_norm)) if np.ndim(sigma_norm) else float(sigma_norm)
    if level > MAX_SENSIBLE_SIGMA:
        raise DenoiseError(
            f"{what} {level * data_span:.4g} is larger than the data's whole range "
            f"({data_span:.4g}): that is not a noise level of this image; give sigma in the "
            f"data's units (e.g. 25 for 8-bit data) or let it be estimated (auto)")
    rng = trained_range(card)
    if rng is None:
        return []
    s255 = level * 255.0
    if s255 > rng[1] * TOLERANCE:
        return [f"{what} {s255:.3g} (on a 0-255 scale) is {s255 / rng[1]:.1f}x the largest "
                f"noise level {model_name} was trained for ({rng[1]:g}); the result may be "
                f"poor: try bm3d, or a model trained for stronger noise"]
    return []


def alias_note(model, resolved_name: str) -> str | None:
    """A note when the name the user gave is an alias of another model."""
    if isinstance(model, str) and model.lower() not in ("auto", resolved_name.lower()):
        from .models import ALIASES, retired_models

        if model.lower() in retired_models():
            return (f"'{model}' was retired: it now runs '{resolved_name}', which replaces it "
                    f"(better at every noise level measured; see its model card)")
        if model.lower() in ALIASES:
            return f"'{model}' is an alias of '{resolved_name}'"
    return None
