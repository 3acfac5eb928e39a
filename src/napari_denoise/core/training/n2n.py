"""Self-supervised training on the user's own noisy data: no clean images needed.

>>> from napari_denoise import denoise, train_noise2noise
>>> trained = train_noise2noise(stack, minutes=5)      # neighbouring frames as pairs
>>> clean = denoise(stack, model=trained)
>>> trained.save()                                    # user models folder, as trained.name
>>> clean = denoise(other_stack, model=trained.name)

Pairs (``pairs=``), from :mod:`.pairs`:

``"neighbors"``  (default) frame i and a neighbouring frame along ``axis`` of a stack
                 (Noise2Noise; the signal must be the same in both)
``"two"``        two captures of the same scene (automatic when ``target=`` is given)
``"subsample"``  Neighbor2Neighbor on single images (two sub-images of the 2x2 cells,
                 with its regulariser)
``"blindspot"``  Noise2Void on single images (masked pixels predicted from their
                 surroundings)

The data are scaled to [0, 1] by their range (robust percentiles, or the dtype's
range for uint8 and [0, 1] floats, the rule of
:func:`..normalise.estimate_range`), which the inference engine applies again at
denoise time, so a trained model's output comes back in the data's units.

Training: AdamW, linear warm-up then cosine decay over ``steps`` (or over the steps
that fit in ``minutes``, measured on the first steps), bf16 autocast on CUDA and on
CPUs with native bf16 (AMX / AVX512-BF16). A held-apart part of the data (see
:class:`.pairs.PairSampler`) gives a validation loss every ``val_every`` steps
(plus a PSNR when clean ``reference`` data are given); the model with the lowest
validation loss is kept. Checkpoints (``checkpoint=``, ``torch.save``, loaded
with ``weights_only=True``) let training continue exactly where it stopped
(``resume=``).

The generator form :func:`train_noise2noise_iter` (or
:meth:`Noise2NoiseTrainer.run`) yields a progress dict after every step and
returns the :class:`TrainedModel`; a napari worker drives it and, when the user
aborts (the generator is closed), asks the trainer for the best model so far
(:meth:`Noise2NoiseTrainer.best_so_far`).
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DenoiseError
from ..precision import autocast, autocast_dtype

from .pairs import (PAIR_KINDS, BlindSpotSampler, NeighborFramesSampler, SubsampleSampler,
                    TwoCapturesSampler, subsample)
from .metrics import psnr
from .schedule import warmup_cosine

LOSSES = ("l2", "l1", "charbonnier")
DEFAULT_ARCH_ARGS = {
    "unet": {"features": 32, "levels": 3, "residual": True},
    "dncnn": {"depth": 17, "features": 64},
}
DEFAULT_STEPS = 2000
DEFAULT_FINETUNE_STEPS = 400
DEFAULT_LR = 1e-3
DEFAULT_FINETUNE_LR = 2e-4
MIN_LR_RATIO = 0.01
CHARBONNIER_EPS = 1e-3
PROBE_STEPS = 5  # steps timed to size the schedule when only minutes are given
CKPT_FORMAT = "napari-denoise self-supervised checkpoint 1"

LIMITATIONS = (
    "Trained on one data set by self-supervision: meant for that data (same instrument, "
    "noise and intensity range); on other data it may blur or leave noise. Noise2Noise "
    "pairs assume the same signal in both images and independent, zero-mean noise: "
    "motion between frames or slices is blurred away. Subsample and blind-spot training "
    "assume pixel-independent noise (correlated noise, e.g. from demosaicing or "
    "resampling, is kept).")


# -- the trained model ---------------------------------------------------------------

@dataclass
class TrainedModel:
    """A trained network with its model card; pass it as ``model=`` to ``denoise``.

    module : the network (``nn.Module``, eval mode, on the CPU, float32)
    card : its model card (:data:`..weights.CARD_SCHEMA`)
    history : one dict per validation (step, loss, val_loss, val_psnr, lr, elapsed)
    path : where :meth:`save` last wrote it, else None
    """

    module: Any
    card: dict
    history: list = field(default_factory=list)
    path: Path | None = None

    @property
    def name(self) -> str:
        return str(self.card.get("name", "trained"))

    def save(self, path=None) -> Path:
        """Write the model as safetensors, the card embedded; returns the path.

        Default: ``<user models folder>/<name>.safetensors`` (``NAPARI_DENOISE_MODELS``
        overrides the folder), where ``list_models()`` lists it as a "user" model and
        ``denoise(..., model=name)`` finds it. The card's name becomes the file's stem.
        An existing file is replaced.
        """
        from ..models import user_models_dir
        from ..weights import save_model

        if path is None:
            path = user_models_dir() / f"{_safe_name(self.name)}.safetensors"
        path = Path(path).expanduser()
        if path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        self.card["name"] = path.stem
        self.path = save_model(self.module, path, self.card)
        return self.path

    def denoise(self, image, **kwargs):
        """``napari_denoise.denoise(image, model=self, **kwargs)``."""
        from ..inference import denoise_iter, run_to_end

        progress = kwargs.pop("progress", None)
        return run_to_end(denoise_iter(image, self, **kwargs), progress).image


def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    return name or "trained"


# -- options, data, models ----------------------------------------------------------------

def _arrange(data, axes, axis, dims: int, name: str = "data"):
    """(array with the spatial axes last, stack axis index or None)."""
    arr = np.asarray(data)
    if arr.dtype.kind not in "uif":
        raise ValueError(f"unsupported {name} type {arr.dtype}: use integer or floating-point data")
    if arr.size == 0:
        raise ValueError(f"the {name} are empty (shape {arr.shape})")
    if axes is None:
        if isinstance(axis, str):
            raise ValueError(f"axis={axis!r} names an axis: give axes= too (e.g. axes='TYX')")
        if arr.ndim < dims:
            raise ValueError(f"need at least {dims}-D {name} for dims={dims}, got shape "
                             f"{arr.shape}")
        return arr, (0 if axis is None else int(axis))
    from ..axes import normalize_axes

    ax = normalize_axes(axes, arr.ndim)
    spatial = "ZYX"[-dims:] if dims == 3 else "YX"
    if dims == 3 and "Z" not in ax:
        raise ValueError(f"dims=3 needs a Z axis (axes {ax!r})")
    order = [i for i, a in enumerate(ax) if a not in spatial] + [ax.index(a) for a in spatial]
    arr = arr.transpose(order)
    if axis is None:  # T, else Z, else another axis that is not a channel axis
        lead = [a for a in ax if a not in spatial]
        pick = next((a for a in "TZ" if a in lead), None)
        return arr, (None if pick is None else order.index(ax.index(pick)))
    if isinstance(axis, str):
        letter = axis.upper()
        if letter not in ax:
            raise ValueError(f"axis {axis!r} is not in the axes {ax!r}")
        if letter in spatial:
            raise ValueError(f"axis {axis!r} is spatial; the stack axis must be another one")
        return arr, order.index(ax.index(letter))
    i = int(axis) % arr.ndim
    return arr, order.index(i)


def _load_init(init):
    """(trainable module in fp32, its card) from a model name, path or trained model."""
    from ..errors import ModelNotFoundError
    from ..weights import load_model

    if hasattr(init, "module") and hasattr(init, "card"):
        card = dict(init.card)
        if "arch" not in card:
            raise ValueError("init: the model's card names no architecture")
        return copy.deepcopy(init.module).float().cpu(), card
    try:
        from torch import nn

        if isinstance(init, nn.Module):
            raise ValueError("init= takes a model name, a .safetensors path or a trained model; "
                             "pass a bare network through a TrainedModel or save it first")
    except ImportError:  # pragma: no cover
        pass
    if isinstance(init, Path) or (isinstance(init, str) and (
            init.endswith((".safetensors", ".pt", ".pth")) or "/" in init or "\\" in init)):
        p = Path(init).expanduser()
        if not p.exists():
            raise ModelNotFoundError(f"model file not found: {p}")
        module, card = load_model(p)
        return module.float(), dict(card)
    if not isinstance(init, str):
        raise ValueError(f"init must be a model name, a path or a trained model, not "
                         f"{type(init).__name__}")
    from ..classical import CLASSICAL
    from ..models import ALIASES, user_model_paths
    from ..registry import pretrained_entries

    key = ALIASES.get(init.lower(), init.lower())
    if key in CLASSICAL:
        raise ValueError(f"{init!r} is a classical method, not a network: init takes a "
                         f"pretrained or saved network")
    entries = pretrained_entries()
    if key in entries:
        e = entries[key]
        module, card = load_model(e.path, verify_sha=e.card.get("sha256"))
        return module.float(), dict(card)
    users = user_model_paths()
    if init in users:
        module, card = load_model(users[init])
        return module.float(), dict(card)
    names = sorted(set(entries) | set(users))
    raise ModelNotFoundError(f"unknown model {init!r} for init; networks available: "
                             f"{', '.join(names) if names else 'none (give a .safetensors path)'}")


def _autocast(device, enabled=None):
    """Training autocast: bf16 on CUDA where supported and on CPUs with native bf16."""
    return autocast(device, autocast_dtype(device, training=True, fp16_fallback=False,
                                           enabled=enabled))


def _pointwise(kind: str):
    import torch

    if kind == "l2":
        return lambda d: d * d
    if kind == "l1":
        return lambda d: d.abs()
    eps2 = CHARBONNIER_EPS**2
    return lambda d: torch.sqrt(d * d + eps2) - CHARBONNIER_EPS


# -- the trainer ---------------------------------------------------------------------

class Noise2NoiseTrainer:
    """Model, optimiser, pair sampler and state of one self-supervised training.

    Build it with the options of :func:`train_noise2noise`, iterate :meth:`run` (a
    generator of progress dicts that returns the :class:`TrainedModel`); call
    :meth:`request_stop` from anywhere to end it, and :meth:`best_so_far` after closing
    the generator early.
    ``save_checkpoint`` / ``resume`` continue a training exactly (same seed, same
    steps: the same result as one uninterrupted run).
    """

    def __init__(self, data, *, target=None, pairs=None, axis=None, axes=None, model=None,
                 arch_args=None, init=None, steps=None, minutes=None, patch=64, batch=8,
                 lr=None, loss="l2", dims=None, device="auto", seed=0, val_fraction=0.1,
                 reference=None, name=None, save=None, distance=1, val_every=None,
                 val_patches=16, gamma=2.0, mask_fraction=1 / 64, weight_decay=1e-4,
                 amp=None, augment=True, checkpoint=None, checkpoint_every=None,
                 resume=None, swap_captures=True):
        import torch

        from ..devices import resolve_device
        from ..registry import arch_names, create_arch

        # -- plain options
        if pairs is None:
            pairs = "two" if target is not None else "neighbors"
        pairs = str(pairs).lower()
        if pairs not in PAIR_KINDS:
            raise ValueError(f"pairs must be one of {', '.join(PAIR_KINDS)}, not {pairs!r}")
        if pairs == "two" and target is None:
            raise ValueError("pairs='two' needs the second capture as target=")
        if target is not None and pairs != "two":
            raise ValueError(f"target= is the second capture for pairs='two', not for "
                             f"pairs={pairs!r}")
        loss = str(loss).lower()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {loss!r}")
        if steps is not None and int(steps) < 1:
            raise ValueError(f"steps must be a positive integer, not {steps}")
        if minutes is not None and not (float(minutes) > 0 and math.isfinite(float(minutes))):
            raise ValueError(f"minutes must be a positive number, not {minutes}")
        if int(batch) < 1:
            raise ValueError(f"batch must be a positive integer, not {batch}")
        if lr is not None and not float(lr) > 0:
            raise ValueError(f"lr must be positive, not {lr}")
        self.device = resolve_device(device)
        self.pairs = pairs
        self.loss_kind = loss
        self.batch_size = int(batch)
        self.seed = int(seed)
        self.gamma = float(gamma)
        self.steps_arg = None if steps is None else int(steps)
        self.minutes = None if minutes is None else float(minutes)
        self.amp = amp
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.checkpoint_every = None if checkpoint_every is None else max(1, int(checkpoint_every))
        self.save_to = save
        self.val_every_arg = None if val_every is None else max(1, int(val_every))

        # -- the network
        self.init_name = None
        init_card = None
        if init is not None:
            module, init_card = _load_init(init)
            self.init_name = init if isinstance(init, (str, Path)) else init_card.get("name")
            self.init_name = str(self.init_name)
            if getattr(module, "takes_noise_map", False):
                raise ValueError(f"{init_card.get('name', init)!r} needs a noise level "
                                 f"({init_card.get('arch')}); self-supervised training "
                                 f"fine-tunes blind models only (a U-Net, dncnn_blind)")
            if int(getattr(module, "in_channels", 1)) != 1:
                raise ValueError(f"{init_card.get('name', init)!r} takes "
                                 f"{module.in_channels} channels; training uses one")
            arch = init_card["arch"]
            if model is not None and str(model).lower() != arch:
                raise ValueError(f"model={model!r} differs from the architecture of init "
                                 f"({arch}); leave model out when fine-tuning")
            if arch_args is not None:
                raise ValueError("arch_args cannot change the architecture of init")
            a_args = dict(init_card.get("arch_args", {}))
            mdims = int(getattr(module, "dims", init_card.get("dims", 2)))
            if dims is not None and int(dims) != mdims:
                raise ValueError(f"init is a {mdims}-D model; dims={dims} does not fit")
            dims = mdims
        else:
            arch = str(model or "unet").lower()
            if arch not in arch_names():
                raise ValueError(f"unknown model {model!r}; self-training builds one of: "
                                 f"{', '.join(a for a in arch_names() if a != 'ffdnet')}")
            if arch == "ffdnet":
                raise ValueError("model='ffdnet' needs a noise level map; self-supervised "
                                 "training builds blind models only: 'unet' or 'dncnn'")
            dims = 2 if dims is None else int(dims)
            if dims not in (2, 3):
                raise ValueError(f"dims must be 2 or 3, not {dims}")
            a_args = dict(DEFAULT_ARCH_ARGS.get(arch, {}))
            a_args.update(arch_args or {})
            a_args.setdefault("in_channels", 1)
            if arch in ("unet", "dncnn"):
                a_args["dims"] = dims
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                try:
                    module = create_arch(arch, **a_args)
                except TypeError as exc:
                    raise ValueError(f"bad arch_args for {arch}: {exc}") from None
            if getattr(module, "takes_noise_map", False):
                raise ValueError(f"model {arch!r} needs a noise level; self-supervised "
                                 f"training builds blind models only")
            if int(getattr(module, "dims", dims)) != dims:
                raise ValueError(f"model {arch!r} is {module.dims}-D; dims={dims} does not fit")
        self.arch, self.arch_args, self.dims = arch, a_args, int(dims)
        self.init_card = init_card
        self.lr = float(lr) if lr is not None else (DEFAULT_FINETUNE_LR if init is not None
                                                    else DEFAULT_LR)
        if self.steps_arg is not None:
            self.total = self.steps_arg
        elif self.minutes is None:
            self.total = DEFAULT_FINETUNE_STEPS if init is not None else DEFAULT_STEPS
        else:
            self.total = None  # estimated from the first steps' speed

        # -- the data
        arr, stack_axis = _arrange(data, axes, axis, self.dims)
        self.axis_desc = stack_axis  # the stack axis as the caller names it
        if axes is not None and stack_axis is not None:
            from ..axes import normalize_axes

            spatial = "ZYX" if self.dims == 3 else "YX"
            lead = [a for a in normalize_axes(axes, arr.ndim) if a not in spatial]
            self.axis_desc = lead[stack_axis]
        self.data_shape = tuple(np.shape(data))
        self.data_dtype = str(arr.dtype)
        self.axes = axes
        common = dict(dims=self.dims, patch=int(patch),
                      multiple=int(getattr(module, "size_multiple", 1)),
                      val_fraction=float(val_fraction), seed=self.seed, augment=augment,
                      val_patches=val_patches)
        if pairs == "two":
            tgt, _ = _arrange(target, axes, axis, self.dims, "target")
            if tgt.shape != arr.shape:
                raise ValueError(f"target of shape {np.shape(target)} differs from the data's "
                                 f"{self.data_shape}: the two captures must match")
            self.sampler = TwoCapturesSampler(arr, tgt, swap=swap_captures, **common)
        elif pairs == "neighbors":
            if stack_axis is None:
                raise ValueError(
                    f"pairs='neighbors' needs a T or Z axis to pair frames along (axes "
                    f"{axes}, shape {self.data_shape}); for a single image use "
                    f"pairs='subsample' (Neighbor2Neighbor) or pairs='blindspot' "
                    f"(Noise2Void), or give a second capture as target=")
            self.sampler = NeighborFramesSampler(arr, axis=stack_axis, distance=distance,
                                                 **common)
        elif pairs == "subsample":
            self.sampler = SubsampleSampler(arr, **common)
        else:
            self.sampler = BlindSpotSampler(arr, mask_fraction=mask_fraction, **common)
        self.reference = None
        if reference is not None:
            ref = np.asarray(reference)
            if axes is not None and ref.ndim == np.ndim(data):
                ref, _ = _arrange(ref, axes, axis, self.dims, "reference")
            self.reference = ref
        self._val_ref = None
        self._name_given = bool(name)
        self.name = _safe_name(name) if name else time.strftime(f"n2n_{pairs}_%Y%m%d_%H%M%S")

        # -- optimisation state
        self.model = module.to(self.device)
        if self.dims == 2 and self.device.type in ("cpu", "cuda"):
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr,
                                     weight_decay=float(weight_decay))
        self._pw = _pointwise(loss)
        self.step = 0
        self.best_val = math.inf
        self.best_step = None
        self.best_state = None
        self.last_val_step = None
        self.last_val = None
        self.last_psnr = None
        self.noisy_psnr = None
        self.history: list[dict] = []
        self.seconds = 0.0  # training time over all runs (resumes included)
        self._stop = False
        self._losses: list[float] = []
        if resume is not None:
            if self.checkpoint is None:
                self.checkpoint = Path(resume)
            self.resume(resume)

    # -- schedule ---------------------------------------------------------------------
    @property
    def warmup(self) -> int:
        return min(50, max(1, (self.total or 500) // 10))

    def lr_at(self, step: int) -> float:
        return warmup_cosine(step, self.lr, self.warmup, self.total, MIN_LR_RATIO)

    @property
    def val_every(self) -> int:
        if self.val_every_arg:
            return self.val_every_arg
        return int(min(250, max(10, (self.total or 200) // 20)))

    # -- one step ------------------------------------------------------------------------
    def _tensor(self, a):
        import torch

        t = torch.from_numpy(a).to(self.device, non_blocking=True)
        if t.ndim == 4 and self.device.type in ("cpu", "cuda"):
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def train_step(self) -> float:
        """One optimisation step on a fresh batch; returns the reconstruction loss."""
        import torch

        b = self.sampler.batch(self.batch_size)
        x, y = self._tensor(b.input), self._tensor(b.target)
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        self.model.train()
        with _autocast(self.device, self.amp):
            out = self.model(x)
        out = out.float()
        if self.pairs == "blindspot":
            m = self._tensor(b.mask)
            rec = (self._pw(out - y) * m).sum() / m.sum().clamp_min(1.0)
            total = rec
        elif self.pairs == "subsample":
            rec = self._pw(out - y).mean()
            with torch.no_grad(), _autocast(self.device, self.amp):
                fy = self.model(self._tensor(b.full)).float()
            idx1 = torch.from_numpy(b.idx1).to(self.device)
            idx2 = torch.from_numpy(b.idx2).to(self.device)
            diff = subsample(fy, idx1) - subsample(fy, idx2)
            reg = self._pw(out - y - diff).mean()
            # gamma ramps up from 0 over the run, as in the authors' code
            ramp = min(1.0, self.step / max(1, self.total or 1000))
            total = rec + self.gamma * ramp * reg
        else:
            rec = self._pw(out - y).mean()
            total = rec
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        value = float(rec.detach())
        if not math.isfinite(value):
            raise DenoiseError(f"training diverged at step {self.step} (loss {value}); "
                                     f"try a lower lr")
        return value

    # -- validation ----------------------------------------------------------------------
    def _forward_chunks(self, a):
        import torch

        outs = []
        with torch.inference_mode():
            for i in range(0, a.shape[0], self.batch_size):
                x = self._tensor(np.ascontiguousarray(a[i:i + self.batch_size]))
                if self.device.type == "cuda":  # as the inference engine
                    with _autocast(self.device, self.amp):
                        y = self.model(x)
                else:
                    y = self.model(x)
                outs.append(y.float().cpu().numpy())
        return np.concatenate(outs)

    def validate(self) -> tuple[float | None, float | None]:
        """(validation loss, validation PSNR in dB or None) of the current model."""
        import torch

        vb = self.sampler.val_batch()
        if vb is None:
            return None, None
        self.model.eval()
        out = torch.from_numpy(self._forward_chunks(vb.input))
        d = out - torch.from_numpy(vb.target)
        if self.pairs == "blindspot":
            m = torch.from_numpy(vb.mask)
            val = float((self._pw(d) * m).sum() / m.sum().clamp_min(1.0))
        else:
            val = float(self._pw(d).mean())
        score = None
        if self.reference is not None:
            if self._val_ref is None:
                self._val_ref = self.sampler.reference_patches(self.reference, vb)
                self.noisy_psnr = psnr(vb.noisy, self._val_ref)
            den = self._forward_chunks(vb.noisy)
            score = psnr(den, self._val_ref)
        return val, score

    def _record_validation(self, elapsed: float) -> None:
        val, score = self.validate()
        self.last_val_step = self.step
        if val is None:
            return
        self.last_val, self.last_psnr = val, score
        n = len(self._losses)
        entry = {"step": self.step,
                 "loss": float(np.mean(self._losses[-self.val_every:])) if n else None,
                 "val_loss": val, "val_psnr": score, "lr": self.lr_at(max(0, self.step - 1)),
                 "elapsed": round(self.seconds + elapsed, 3)}
        self.history.append(entry)
        if val < self.best_val:
            self.best_val, self.best_step = val, self.step
            self.best_state = {k: v.detach().to("cpu", copy=True)
                               for k, v in self.model.state_dict().items()}

    # -- the loop ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask :meth:`run` to stop after the current step (thread-safe enough: a flag).

        A request made before :meth:`run` starts, or before its first step, ends that
        run at once (no step is trained); each run uses up the request that ended it."""
        self._stop = True

    def _info(self, phase: str, elapsed: float, rate: float | None, budget) -> dict:
        loss = float(np.mean(self._losses[-20:])) if self._losses else None
        eta = None
        if budget is not None:
            eta = max(0.0, budget - elapsed)
        if rate is not None and self.total is not None:
            left = rate * max(0, self.total - self.step)
            eta = left if eta is None else min(eta, left)
        if phase == "done":
            eta = 0.0
        msg = f"step {self.step}/{self.total if self.total is not None else '?'}"
        if loss is not None:
            msg += f", loss {loss:.4g}"
        if self.last_val is not None:
            msg += f", val {self.last_val:.4g}"
        if self.last_psnr is not None:
            msg += f" ({self.last_psnr:.2f} dB)"
        return {"phase": phase, "step": self.step, "total": self.total, "loss": loss,
                "val_loss": self.last_val, "val_psnr": self.last_psnr,
                "best_val_loss": None if self.best_step is None else self.best_val,
                "best_step": self.best_step, "lr": self.lr_at(max(0, self.step - 1)),
                "elapsed": elapsed, "eta": eta, "message": msg}

    def run(self, stop=None):
        """Train; a generator that yields a progress dict after every step (and after
        validations) and returns the :class:`TrainedModel` (best validation loss).

        Stops at ``total`` steps, when ``minutes`` are spent, when ``stop()`` returns
        True, after :meth:`request_stop`, or when a true value is sent into it.
        """
        t0 = time.perf_counter()
        budget = None if self.minutes is None else 60.0 * self.minutes
        start_step = self.step
        rate = None
        t_probe = None
        if self.sampler.val_region is not None and self.step == 0 and not self.history:
            self._record_validation(0.0)  # the starting point competes too
        yield self._info("start", time.perf_counter() - t0, rate, budget)
        while True:
            elapsed = time.perf_counter() - t0
            if self.total is not None and self.step >= self.total:
                break
            if budget is not None and elapsed >= budget:
                break
            if self._stop or (stop is not None and stop()):
                break
            self._losses.append(self.train_step())
            now = time.perf_counter()
            done = self.step - start_step
            if done == 1:
                t_probe = now  # the first step pays for allocation and warm-up
            elif done > 1:
                rate = (now - t_probe) / (done - 1)
            if (budget is not None and self.steps_arg is None and rate is not None
                    and (done == PROBE_STEPS or (self.last_val_step == self.step - 1
                                                 and done > PROBE_STEPS))):
                # size the schedule to the time left (validation time included)
                avg = (now - t0) / done
                self.total = self.step + max(1, int((budget - (now - t0)) / max(avg, rate)))
            phase = "train"
            if (self.sampler.val_region is not None
                    and self.step - (self.last_val_step or 0) >= self.val_every):
                self._record_validation(now - t0)
                phase = "validate"
            if self.checkpoint is not None and (
                    self.step % self.checkpoint_every == 0 if self.checkpoint_every
                    else phase == "validate"):
                self._save_checkpoint_during(t0)
            try:
                sent = yield self._info(phase, time.perf_counter() - t0, rate, budget)
            except GeneratorExit:  # closed by the consumer: keep the time spent
                self.seconds += time.perf_counter() - t0
                self._stop = False
                raise
            if sent:
                self._stop = True
        self._stop = False  # this run is over: a stop request is used up
        elapsed = time.perf_counter() - t0
        if self.sampler.val_region is not None and self.last_val_step != self.step:
            self._record_validation(elapsed)
        self.seconds += time.perf_counter() - t0
        if self.checkpoint is not None:
            self.save_checkpoint(self.checkpoint)
        result = self.result()
        if self.save_to:
            result.save(None if self.save_to is True else self.save_to)
        yield self._info("done", time.perf_counter() - t0, rate, budget)
        return result

    def _save_checkpoint_during(self, t0):
        spent = time.perf_counter() - t0
        self.seconds += spent
        try:
            self.save_checkpoint(self.checkpoint)
        finally:
            self.seconds -= spent

    # -- results ----------------------------------------------------------------------------
    def best_so_far(self) -> TrainedModel:
        """After an interruption (a closed :meth:`run`, Ctrl-C): validate the current
        weights if they have not been, so that they compete, then :meth:`result`."""
        if (self.sampler.val_region is not None and self.step > 0
                and self.last_val_step != self.step):
            self._record_validation(0.0)
        return self.result()

    def result(self) -> TrainedModel:
        """The best model so far (lowest validation loss; the current one without
        validation), as a :class:`TrainedModel` on the CPU in eval mode."""
        from ..registry import create_arch

        module = create_arch(self.arch, **self.arch_args)
        state = self.best_state if self.best_state is not None else {
            k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        module.load_state_dict(state)
        module = module.float().eval()
        card = self._card(module)
        return TrainedModel(module=module, card=card,
                            history=[dict(h) for h in self.history])

    def _recipe(self) -> str:
        s = self.sampler
        args = [f"pairs={self.pairs!r}"]
        if self.pairs == "neighbors":
            args.append(f"axis={self.axis_desc!r}")
            args.append(f"distance={s.describe()['distance']!r}")
        if self.axes:
            args.append(f"axes={self.axes!r}")
        if self.init_name:
            args.append(f"init={self.init_name!r}")
        else:
            args.append(f"model={self.arch!r}")
            args.append(f"arch_args={ {k: v for k, v in self.arch_args.items()} !r}")
        args += [f"steps={self.total}", f"patch={s.patch}", f"batch={self.batch_size}",
                 f"lr={self.lr:g}", f"loss={self.loss_kind!r}", f"dims={self.dims}",
                 f"seed={self.seed}", f"val_fraction={s.val_fraction:g}"]
        if self.minutes is not None:
            args.append(f"minutes={self.minutes:g}")
        return f"napari_denoise.train_noise2noise(data, {', '.join(args)})"

    _PAIR_WORDS = {
        "neighbors": "Noise2Noise on neighbouring frames",
        "two": "Noise2Noise on two captures of the same scene",
        "subsample": "Neighbor2Neighbor (sub-sampled pairs)",
        "blindspot": "Noise2Void (blind spot)",
    }

    def _card(self, module) -> dict:
        s = self.sampler
        what = self._PAIR_WORDS[self.pairs]
        nd = "3-D" if self.dims == 3 else "2-D"
        if self.init_name:
            src = (self.init_card or {}).get("name") or self.init_name
            how = f"{nd} {self.arch} fine-tuned from {src} by self-supervision"
        else:
            how = f"{nd} {self.arch} trained by self-supervision"
        metrics = {"val_loss": None if self.best_step is None else float(self.best_val),
                   "best_step": self.best_step, "steps": int(self.step), "pairs": self.pairs,
                   "loss": self.loss_kind, "validation": s.split,
                   "seconds": round(self.seconds, 1), "device": str(self.device)}
        if self.reference is not None and self.history:
            best = [h for h in self.history if h["step"] == self.best_step]
            metrics["val_psnr"] = best[0]["val_psnr"] if best else None
            metrics["val_psnr_noisy"] = self.noisy_psnr
        card = {
            "name": self.name,
            "description": (f"{how} ({what}) on the user's data of shape "
                            f"{self.data_shape} ({self.data_dtype})"),
            "arch": self.arch,
            "arch_args": dict(self.arch_args),
            "dims": int(self.dims),
            "channels": int(getattr(module, "in_channels", 1)),
            "noise_model": "self-supervised",
            "sigma_range": [0, 0],
            "normalisation": (f"input scaled to [0, 1] by the data range (low, high) as at "
                              f"denoise time (percentiles 0.01/99.99, or the dtype's range "
                              f"for uint8 and [0, 1] floats); training data range "
                              f"{s.lo:.6g} to {s.hi:.6g}"),
            "data_range": [float(s.lo), float(s.hi)],
            "training_data": (f"user data, shape {list(self.data_shape)}, {self.data_dtype}"
                              + (f", axes {self.axes}" if self.axes else "")),
            "recipe": self._recipe(),
            "metrics": metrics,
            "training": dict(s.describe(), **({"axis": self.axis_desc}
                                              if self.pairs == "neighbors" else {}),
                             steps=int(self.step), total=self.total,
                             batch=self.batch_size, lr=self.lr, seed=self.seed,
                             init=self.init_name),
            "parameters": int(sum(p.numel() for p in module.parameters())),
            "licence": "the user's: trained on their own data",
            "limitations": LIMITATIONS,
        }
        return card

    # -- checkpoints -------------------------------------------------------------------------
    def _config(self) -> dict:
        return {"pairs": self.pairs, "arch": self.arch, "arch_args": self.arch_args,
                "dims": self.dims, "data_shape": list(self.data_shape),
                "data_dtype": self.data_dtype, "range": [self.sampler.lo, self.sampler.hi]}

    def save_checkpoint(self, path=None) -> Path:
        """Write everything needed to continue (atomic ``torch.save``)."""
        import torch

        path = Path(path or self.checkpoint or f"{self.name}.ckpt").expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": CKPT_FORMAT,
            "config": json.dumps(self._config()),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "opt": self.opt.state_dict(),
            "step": int(self.step),
            "total": -1 if self.total is None else int(self.total),
            "best_val": float(self.best_val),
            "best_step": -1 if self.best_step is None else int(self.best_step),
            "best_state": self.best_state or {},
            "last_val_step": -1 if self.last_val_step is None else int(self.last_val_step),
            "history": json.dumps(self.history),
            "losses": json.dumps(self._losses[-1000:]),
            "rng": json.dumps(self.sampler.get_state()),
            "seconds": float(self.seconds),
            "name": self.name,
        }
        tmp = path.with_name(path.name + ".part")
        try:
            torch.save(state, tmp)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def resume(self, path) -> None:
        """Continue from a checkpoint of the same data and settings."""
        import torch

        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - corrupt, truncated or not ours
            raise ValueError(f"{path.name}: not a readable checkpoint "
                             f"({str(exc).splitlines()[0][:200]})") from None
        if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
            raise ValueError(f"{path.name}: not a napari-denoise self-training checkpoint")
        saved = json.loads(state["config"])
        mine = json.loads(json.dumps(self._config()))
        diff = [k for k in mine if k != "range" and saved.get(k) != mine[k]]
        if diff:
            raise ValueError(f"{path.name} was written for other data or settings "
                             f"({', '.join(f'{k}: {saved.get(k)} vs {mine[k]}' for k in diff)})")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        if self.steps_arg is None and self.minutes is None and state["total"] > 0:
            self.total = int(state["total"])
        self.best_val = float(state["best_val"])
        self.best_step = None if state["best_step"] < 0 else int(state["best_step"])
        self.best_state = state["best_state"] or None
        self.last_val_step = None if state["last_val_step"] < 0 else int(state["last_val_step"])
        self.history = json.loads(state["history"])
        self._losses = json.loads(state["losses"])
        self.sampler.set_state(json.loads(state["rng"]))
        self.seconds = float(state["seconds"])
        if self.history:
            self.last_val = self.history[-1]["val_loss"]
            self.last_psnr = self.history[-1]["val_psnr"]
        self.name = state.get("name", self.name) if not self._name_given else self.name


# -- public functions --------------------------------------------------------------------------

def train_noise2noise_iter(data, *, stop=None, **options):
    """Generator form of :func:`train_noise2noise` (same options): yields a progress dict
    after every step, returns the :class:`TrainedModel`. Send it a true value, or make
    ``stop()`` return True, to end early with the best model so far."""
    trainer = Noise2NoiseTrainer(data, **options)
    return (yield from trainer.run(stop=stop))


def train_noise2noise(data, *, target=None, pairs=None, axis=None, axes=None, model=None,
                      arch_args=None, init=None, steps=None, minutes=None, patch=64, batch=8,
                      lr=None, loss="l2", dims=None, device="auto", seed=0, val_fraction=0.1,
                      reference=None, progress=None, stop=None, name=None, save=None,
                      resume=None, checkpoint=None, **more) -> TrainedModel:
    """Train a denoiser on noisy data alone and return it as a :class:`TrainedModel`.

    Parameters
    ----------
    data : array
        The noisy data, spatial axes last (``(T, Y, X)``, ``(Z, Y, X)``, ``(Y, X)``,
        ``(T, Z, Y, X)`` for ``dims=3`` ...) unless ``axes`` says otherwise.
    target : array, optional
        A second capture of the same scene, same shape: trains with ``pairs="two"``.
    pairs : "neighbors", "two", "subsample" or "blindspot"
        Default "neighbors" (frames along ``axis``; ``distance=1`` adjacent ones,
        ``distance="any"`` every two frames of a still sample), "two" with ``target``.
        For a single image use "subsample" (Neighbor2Neighbor) or "blindspot"
        (Noise2Void).
    axis : int or axis letter
        The stack axis for "neighbors" (default 0; with ``axes``, T, else Z).
    axes : str, optional
        Axes of ``data`` such as "TYX", "ZYX", "TZYX", "YXC"; the data are reordered so
        that the spatial ones come last.
    model : "unet" (default) or "dncnn"
        A blind architecture (FFDNet needs a noise level: not trainable here).
        ``arch_args`` overrides its defaults (U-Net: features 32, levels 3).
    init : str, path or TrainedModel, optional
        Fine-tune a pretrained or saved blind model (dncnn_blind, a U-Net) instead of
        starting from random weights; default ``lr`` 2e-4 and 400 steps.
    steps, minutes : schedule length
        ``steps`` total steps (default 2000, 400 when fine-tuning); ``minutes`` a time
        limit; with ``minutes`` alone the cosine schedule is sized to the steps that fit,
        measured on the first steps (so not reproducible across machines).
    patch, batch : patch side in pixels of the crops (subsample: the full-resolution
        crop, the network sees half), patches per step.
    lr : peak learning rate (AdamW; warm-up then cosine decay).
    loss : "l2" (default, the Noise2Noise choice), "l1" or "charbonnier".
    dims : 2 (default) or 3 (a 3-D network on volumes: the last three axes).
    device : "auto", "cpu", "cuda", "cuda:N" or "mps".
    seed : random seed of the weights, patches and masks.
    val_fraction : share of the data held apart for validation (0: none; then the
        last model is returned).
    reference : clean data (the data's shape, or a single image broadcast to it),
        optional: adds the validation PSNR in dB (relative to the data range).
    progress : callable, optional
        Called with a dict after every step: phase, step, total, loss, val_loss,
        val_psnr, best_val_loss, best_step, lr, elapsed, eta, message. Returning False
        stops the training (like ``stop``).
    stop : callable, optional
        Checked before every step; returning True ends training with the best model so
        far.
    name : the model's name (default ``n2n_<pairs>_<date>_<time>``).
    save : True (the user models folder, as ``name``) or a path: save the result.
    resume, checkpoint : paths
        ``checkpoint``: write the training state there at every validation and at the
        end; ``resume``: continue from such a file (then also the default checkpoint).
    **more : further trainer options: ``distance``, ``val_every``, ``val_patches``,
        ``gamma`` (Neighbor2Neighbor regulariser weight, 2), ``mask_fraction``
        (Noise2Void, 1/64), ``weight_decay``, ``amp`` (None: automatic bf16),
        ``augment``, ``checkpoint_every``.
    """
    gen = train_noise2noise_iter(
        data, stop=stop, target=target, pairs=pairs, axis=axis, axes=axes, model=model,
        arch_args=arch_args, init=init, steps=steps, minutes=minutes, patch=patch, batch=batch,
        lr=lr, loss=loss, dims=dims, device=device, seed=seed, val_fraction=val_fraction,
        reference=reference, name=name, save=save, resume=resume, checkpoint=checkpoint, **more)
    try:
        info = next(gen)
        while True:
            ask_stop = progress is not None and progress(info) is False
            info = gen.send(True if ask_stop else None)
    except StopIteration as done:
        return done.value
