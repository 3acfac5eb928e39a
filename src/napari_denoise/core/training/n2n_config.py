"""The options of a self-supervised training, typed and checked in one place.

:class:`Noise2NoiseConfig` holds every setting of :class:`.n2n.Noise2NoiseTrainer`
(and so of ``train_noise2noise``, the ``train`` command and the Train widget) except
the arrays (``data``, ``target``, ``reference``) and ``resume``. It is frozen and
checks its values when built: a bad value raises one ``ValueError`` line that names
the field. Checkpoints store :meth:`Noise2NoiseConfig.as_dict`;
:meth:`Noise2NoiseConfig.from_dict` rebuilds it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .pairs import MIN_SIDE, PAIR_KINDS

LOSSES = ("l2", "l1", "charbonnier")
#: Noise domains a model can be trained in: raw intensities, or the GAT of a fitted model.
DOMAINS = ("raw", "gat")
DEFAULT_STEPS = 2000
DEFAULT_FINETUNE_STEPS = 400
DEFAULT_LR = 1e-3
DEFAULT_FINETUNE_LR = 2e-4


def _positive_int(name: str, value, *, allow_none: bool = True):
    if value is None and allow_none:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return number


def _integer(name: str, value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def _number(name: str, value, low: float, high: float, *, low_open=False,
            high_open=False, words: str = "") -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    ok = math.isfinite(x) and (x > low if low_open else x >= low) and (
        x < high if high_open else x <= high)
    if isinstance(value, bool) or not ok:
        raise ValueError(f"{name} must be {words}, not {value!r}")
    return x


@dataclass(frozen=True)
class Noise2NoiseConfig:
    """Settings of a self-supervised training (see ``train_noise2noise``).

    pairs : "neighbors", "others", "two", "subsample", "blindspot", "auto" (chosen from the
        data by :func:`.strategy.choose_pairs`) or None (by ``target``)
    axis, axes : the stack axis (index or letter) and the data's axes ("TYX" ...)
    model, arch_args : "unet" (default) or "dncnn" and its constructor arguments
    init : a model name, .safetensors path or TrainedModel to fine-tune; "auto" (default):
        the shipped network for the data's noise when the architecture is left open (2-D
        training, no ``model``/``arch_args``), else from scratch; None: from scratch
    steps, minutes : schedule length (defaults 2000 steps, 400 when fine-tuning)
    patch, batch, lr, loss : crop side (default 64; 32 in 3-D, where a patch is
        a volume), patches per step, peak learning rate, loss
    dims : 2 or 3; device : "auto", "cpu", "cuda[:N]", "mps"; seed : random seed
    voxel_size : 3-D: the (Z, Y, X) voxel size in any one unit (a napari layer's
        ``scale``); patches are then as deep in that unit as they are wide and the U-Net
        pools thick slices in-plane only (None: cubic voxels)
    val_fraction, val_every, val_patches : validation share, interval, patch count
    name, save : the model's name; True or a path to save the result
    distance : neighbour distance (int or "any"); gamma : Neighbor2Neighbor weight
    mask_fraction : Noise2Void masked share; weight_decay : AdamW's
    amp : None (automatic bf16), True or False; augment : flips and rotations
    checkpoint, checkpoint_every : where and how often to write the training state
    swap_captures : "two" pairs: train both ways round
    domain : "raw" (the data's own intensities, default) or "gat" (the Generalized
        Anscombe Transform of a Poisson-Gaussian fit of the data); the card records it
        and the engine always applies the model in it
    """

    pairs: str | None = None
    axis: int | str | None = None
    axes: str | None = None
    model: str | None = None
    arch_args: dict | None = None
    init: Any = "auto"
    steps: int | None = None
    minutes: float | None = None
    patch: int | None = None
    batch: int = 8
    lr: float | None = None
    loss: str = "l2"
    dims: int | None = None
    voxel_size: tuple | None = None
    device: Any = "auto"
    seed: int = 0
    val_fraction: float = 0.1
    name: str | None = None
    save: Any = None
    distance: int | str = 1
    val_every: int | None = None
    val_patches: int = 16
    gamma: float = 2.0
    mask_fraction: float = 1 / 64
    weight_decay: float = 1e-4
    amp: bool | None = None
    augment: bool = True
    checkpoint: str | Path | None = None
    checkpoint_every: int | None = None
    swap_captures: bool = True
    domain: str = "raw"

    def __post_init__(self):
        for name, value in self._checked().items():
            object.__setattr__(self, name, value)

    def _checked(self) -> dict:
        """The fields that are checked, in their normalised form."""
        out = {"pairs": None if self.pairs is None else str(self.pairs).lower(),
               "loss": str(self.loss).lower()}
        if out["pairs"] is not None and out["pairs"] not in PAIR_KINDS + ("auto",):
            raise ValueError(f"pairs must be one of {', '.join(PAIR_KINDS + ('auto',))}, not "
                             f"{out['pairs']!r}")
        if out["loss"] not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {out['loss']!r}")
        out["steps"] = _positive_int("steps", self.steps)
        if self.minutes is not None:
            out["minutes"] = _number("minutes", self.minutes, 0, math.inf, low_open=True,
                                     high_open=True, words="a positive number")
        out["batch"] = _positive_int("batch", self.batch, allow_none=False)
        if self.lr is not None:
            out["lr"] = _number("lr", self.lr, 0, math.inf, low_open=True,
                                high_open=True, words="positive")
        if self.patch is not None:
            out["patch"] = _integer("patch", self.patch)
            if out["patch"] < MIN_SIDE:
                raise ValueError(f"patch must be at least {MIN_SIDE} pixels, not {self.patch}")
        if self.dims is not None:
            out["dims"] = _integer("dims", self.dims)
            if out["dims"] not in (2, 3):
                raise ValueError(f"dims must be 2 or 3, not {self.dims!r}")
        if self.voxel_size is not None:
            out["voxel_size"] = _voxel_size(self.voxel_size)
            if out.get("dims") != 3:
                raise ValueError("voxel_size is for 3-D training: give dims=3 as well")
        out["val_fraction"] = _number("val_fraction", self.val_fraction, 0, 0.5,
                                      high_open=True, words="in [0, 0.5)")
        out["mask_fraction"] = _number("mask_fraction", self.mask_fraction, 0, 0.2,
                                       low_open=True, words="in (0, 0.2]")
        out["gamma"] = _number("gamma", self.gamma, 0, math.inf, high_open=True,
                               words="a number >= 0")
        out["weight_decay"] = _number("weight_decay", self.weight_decay, 0, math.inf,
                                      high_open=True, words="a number >= 0")
        for name in ("val_every", "checkpoint_every", "val_patches"):  # 0 or less: 1
            value = getattr(self, name)
            out[name] = None if value is None else max(1, _integer(name, value))
        out["seed"] = _integer("seed", self.seed)
        out["domain"] = str(self.domain).lower()
        if out["domain"] not in DOMAINS:
            raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, not {self.domain!r}")
        self._check_distance()
        if self.arch_args is not None and not isinstance(self.arch_args, dict):
            raise ValueError(f"arch_args must be a dict, not {type(self.arch_args).__name__}")
        return out

    def _check_distance(self) -> None:
        d = self.distance
        if isinstance(d, str) and d.lower() == "any":
            return
        try:
            ok = not isinstance(d, (bool, str)) and int(d) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"distance must be a positive integer or 'any', not {d!r}")

    # -- building and storing ------------------------------------------------------------
    @classmethod
    def build(cls, config: Noise2NoiseConfig | None = None, **options) -> Noise2NoiseConfig:
        """``config`` (default: the defaults) with ``options`` replacing its fields; an
        unknown option is refused with its name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown training option{'s' if len(unknown) > 1 else ''}: "
                            f"{', '.join(unknown)}")
        if config is None:
            return cls(**options)
        if not isinstance(config, cls):
            raise TypeError(f"config must be a {cls.__name__}, not {type(config).__name__}")
        return dataclasses.replace(config, **options) if options else config

    def replace(self, **options) -> Noise2NoiseConfig:
        """A copy with ``options`` changed (checked again)."""
        return self.build(self, **options)

    def as_dict(self) -> dict:
        """The settings as JSON-ready values: paths as strings, a model object given as
        ``init`` by its name (its card's)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif f.name == "init" and value is not None and not isinstance(value, str):
                value = str(getattr(value, "card", {}).get("name", "trained"))
            elif f.name == "device" and not isinstance(value, str):
                value = str(value)
            elif f.name == "arch_args" and value is not None:
                value = dict(value)
            elif f.name == "voxel_size" and value is not None:
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, values: dict) -> Noise2NoiseConfig:
        """Rebuild from :meth:`as_dict` (checked; unknown keys refused by name)."""
        return cls.build(**dict(values))


def _voxel_size(value) -> tuple:
    """Three positive finite numbers (Z, Y, X)."""
    try:
        vs = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        vs = ()
    if len(vs) != 3 or not all(math.isfinite(v) and v > 0 for v in vs):
        raise ValueError(f"voxel_size must be three positive numbers (Z, Y, X), not "
                         f"{value!r}")
    return vs


def anisotropy(voxel_size) -> float:
    """The Z step over the in-plane pixel size (1.0 without a voxel size)."""
    if voxel_size is None:
        return 1.0
    z, y, x = voxel_size
    return float(z) / math.sqrt(float(y) * float(x))


def voxel_size_from_scale(axes: str, scale) -> tuple | None:
    """The (Z, Y, X) voxel size among a file's or a layer's per-axis ``scale`` (None
    without a Z axis, or when every size is 1: napari's and the readers' "unknown")."""
    if not axes or len(tuple(scale)) != len(axes) or not all(a in axes for a in "ZYX"):
        return None
    sizes = dict(zip(axes, (float(v) for v in scale)))
    vs = tuple(sizes[a] for a in "ZYX")
    return None if vs == (1.0, 1.0, 1.0) or min(vs) <= 0 else vs
