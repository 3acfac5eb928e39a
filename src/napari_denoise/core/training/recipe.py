"""Training recipes, typed: a JSON file naming the architecture, the noise to synthesise,
patches, optimiser and schedule (see ``recipes/`` in the repository).

Validated with pydantic in strict mode: an unknown key at any depth (a misspelt
``"quantise"`` in ``noise``), a wrong type (``"steps": "100"``) or a bad value is
refused with a ``ValueError`` that names the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Number = Union[int, float]
RangeOrValue = Union[Number, list[Number]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


class NoiseSpec(_Strict):
    """Synthetic noise (see :func:`.data.add_noise`): Gaussian ``sigma`` (0-255 units,
    a value or [low, high]) or Poisson-Gaussian ``variance = a * x + b`` ([0, 1] units)."""

    type: Literal["gaussian", "poisson-gaussian"] = "gaussian"
    sigma: RangeOrValue | None = None
    a: RangeOrValue | None = None
    b: RangeOrValue | None = None
    log_a: bool = False
    exact: bool = False
    clip: bool = False
    quantize: int | None = None
    map: Literal["true", "noisy"] = "true"

    def as_dict(self) -> dict:
        return self.model_dump(exclude_none=True)


class PairsSpec(_Strict):
    """Real noisy/clean pairs: W2S fields ``[first, last]`` under ``root``."""

    dataset: Literal["w2s"]
    root: str = "microscopy/W2S"
    fields: list[int] = Field(min_length=2, max_length=2)


class Recipe(_Strict):
    name: str
    arch: str
    arch_args: dict = Field(default_factory=dict)
    noise: NoiseSpec = Field(default_factory=lambda: NoiseSpec(sigma=[0, 55]))
    train_data: str = "train/Train400"
    val_data: str = ""  # a folder of validation images; never a test set (see val_holdout)
    # file names of train_data held apart for validation (and left out of training);
    # when given, val_data is not used
    val_holdout: list[str] | None = None
    val_sigmas: list[Number] = Field(default_factory=lambda: [25])
    patch: int = Field(50, gt=0)
    batch: int = Field(64, gt=0)
    steps: int = Field(10000, gt=0)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup: int = Field(200, ge=0)
    min_lr_ratio: float = Field(0.01, ge=0, le=1)
    val_every: int = Field(500, gt=0)
    ckpt_every: int = Field(500, gt=0)
    patience: int = Field(0, ge=0)  # validations without improvement before stopping; 0 = never
    loss: str = "l2"                # a name from training.losses.list_losses()
    select_by: Literal["psnr", "ssim"] = "psnr"  # the validation score the best weights keep
    train_pairs: PairsSpec | None = None
    val_pairs: PairsSpec | None = None  # validated with the affine PSNR (gain and offset fitted)
    # with train_pairs: the share of each batch made of clean patches (train_data's images
    # and the pairs' clean references) with the synthetic ``noise``, so that a model
    # fine-tuned on one instrument's pairs keeps the noise levels the pairs lack
    synthetic_share: float = Field(0.0, ge=0, le=1)
    # extra validation cases: Poisson-Gaussian noise of these gains (b = 0.02 * gain, [0, 1]
    # units, map from the noisy image) on the validation references; scores are averaged
    val_pg_gains: list[Number] | None = None
    seed: int = 0
    description: str = ""
    noise_model: str = "gaussian"
    sigma_range: list[Number] = Field(default_factory=lambda: [0, 55])
    licence: str = "BSD-3-Clause"
    training_data_note: str = ""
    limitations: str = ""

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, v: str) -> str:
        from ..registry import arch_names

        if v not in arch_names():
            raise ValueError(f"unknown arch {v!r}; known: {', '.join(arch_names())}")
        return v

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, v: str) -> str:
        from .losses import list_losses

        names = [n for n in list_losses() if n != "cbdnet_asymmetric"]  # that one scores maps
        if v not in names:
            raise ValueError(f"unknown loss {v!r}; known: {', '.join(names)}")
        return v

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        """A validated recipe, or a ValueError naming every bad key."""
        try:
            return cls(**_coerce(d))
        except ValidationError as exc:
            raise ValueError(_message(d.get("name", "?"), exc)) from None

    @classmethod
    def load(cls, path: str | Path) -> "Recipe":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def as_dict(self) -> dict:
        return self.model_dump(mode="json")


def _coerce(d: dict) -> dict:
    """JSON has no int/float distinction for whole numbers: accept 1 where a float is
    expected (strict mode would not), nothing else."""
    floats = {k for k, f in Recipe.model_fields.items() if f.annotation is float}
    return {k: (float(v) if k in floats and isinstance(v, int) and not isinstance(v, bool)
                else v) for k, v in d.items()}


def _message(name, exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown recipe keys: {key}")
        elif e["type"] == "missing":
            parts.append(f"{key} is required")
        elif e["type"] == "greater_than" and e.get("ctx", {}).get("gt") == 0:
            parts.append(f"{key} must be positive (got {e.get('input')!r})")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{key}: {msg} (got {e.get('input')!r})")
    return f"recipe {name}: " + "; ".join(parts)
