"""The result of a self-supervised training: :class:`TrainedModel` and its model card."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LIMITATIONS = (
    "Trained on one data set by self-supervision: meant for that data (same instrument, "
    "noise and intensity range); on other data it may blur or leave noise. Noise2Noise "
    "pairs assume the same signal in both images and independent, zero-mean noise: "
    "motion between frames or slices is blurred away. Subsample and blind-spot training "
    "assume pixel-independent noise (correlated noise, e.g. from demosaicing or "
    "resampling, is kept).")

PAIR_WORDS = {
    "neighbors": "Noise2Noise on neighbouring frames",
    "others": "Noise2Noise against the mean of the other frames",
    "two": "Noise2Noise on two captures of the same scene",
    "subsample": "Neighbor2Neighbor (sub-sampled pairs)",
    "blindspot": "Noise2Void (blind spot)",
}


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
            path = user_models_dir() / f"{safe_name(self.name)}.safetensors"
        path = Path(path).expanduser()
        if path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        self.card["name"] = path.stem
        self.path = save_model(self.module, path, self.card)
        return self.path

    def denoise(self, image, **kwargs):
        """``napari_denoise.denoise(image, model=self, **kwargs)`` (``combine_frames=True``:
        every frame of a still stack denoised, then their mean)."""
        from ..inference import denoise_iter, run_to_end

        progress = kwargs.pop("progress", None)
        combine = kwargs.pop("combine_frames", False)
        out = run_to_end(denoise_iter(image, self, **kwargs), progress).image
        if combine:
            from ..frames import combine_frames

            out = combine_frames(out, kwargs.get("axes"))
        return out


def setup_words(trainer) -> str:
    """The pairs and the starting network of a training, in words (why the pairs, when
    they were chosen from the data: ``trainer.pairs_reason``)."""
    text = PAIR_WORDS[trainer.pairs]
    if trainer.init_name:
        src = (trainer.init_card or {}).get("name") or trainer.init_name
        return f"{text}; fine-tuning {src}"
    return f"{text}; {trainer.arch} from scratch"


def safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    return name or "trained"


# -- the model card -------------------------------------------------------------------------

def recipe_call(trainer) -> str:
    """The ``train_noise2noise`` call that repeats ``trainer``'s training."""
    s = trainer.sampler
    args = [f"pairs={trainer.pairs!r}"]
    if trainer.pairs in ("neighbors", "others"):
        args.append(f"axis={trainer.axis_desc!r}")
    if trainer.pairs == "neighbors":
        args.append(f"distance={s.describe()['distance']!r}")
    if trainer.axes:
        args.append(f"axes={trainer.axes!r}")
    if trainer.init_name:
        args.append(f"init={trainer.init_name!r}")
    else:
        args.append(f"model={trainer.arch!r}")
        args.append(f"arch_args={ {k: v for k, v in trainer.arch_args.items()} !r}")
    args += [f"steps={trainer.total}", f"patch={s.patch}", f"batch={trainer.batch_size}",
             f"lr={trainer.lr:g}", f"loss={trainer.loss_kind!r}", f"dims={trainer.dims}",
             f"seed={trainer.seed}", f"val_fraction={s.val_fraction:g}"]
    if getattr(trainer.config, "voxel_size", None) is not None:
        args.append(f"voxel_size={tuple(trainer.config.voxel_size)!r}")
    if trainer.minutes is not None:
        args.append(f"minutes={trainer.minutes:g}")
    if (getattr(s, "noise_domain", None) or {}).get("noise_domain") == "gat":
        args.append("domain='gat'")
    return f"napari_denoise.train_noise2noise(data, {', '.join(args)})"


def card_metrics(trainer) -> dict:
    """The card's ``metrics``: best validation, steps, time, device."""
    metrics = {"val_loss": None if trainer.best_step is None else float(trainer.best_val),
               "best_step": trainer.best_step, "steps": int(trainer.step),
               "pairs": trainer.pairs, "loss": trainer.loss_kind,
               "validation": trainer.sampler.split, "seconds": round(trainer.seconds, 1),
               "device": str(trainer.device),
               "selection": ("SURE: estimated error of the output against the clean image"
                             if getattr(trainer, "sure_noise", None) is not None
                             else "validation loss")}
    if trainer.reference is not None and trainer.history:
        best = [h for h in trainer.history if h["step"] == trainer.best_step]
        metrics["val_psnr"] = best[0]["val_psnr"] if best else None
        metrics["val_psnr_noisy"] = trainer.noisy_psnr
    return metrics


def choice_words(card: dict) -> str:
    """Which weights a training kept, in words (the Train panel and the CLI): the best
    checkpoint, or the network it started from when no checkpoint beat it."""
    m = card.get("metrics") or {}
    best, val = m.get("best_step"), m.get("val_loss")
    if best is None or val is None:
        return "no validation: kept the last weights"
    sure = str(m.get("selection", "")).startswith("SURE")
    score = f"estimated error {val:.3g}" if sure else f"validation loss {val:.4g}"
    init = (card.get("training") or {}).get("init")
    if best == 0 and init:
        return (f"kept the network it started from ({init}, {score}): no checkpoint "
                f"did better on these data")
    return f"kept the best model (step {best}, {score})"


def noise_card(trainer) -> dict:
    """``noise_model`` and ``sigma_range``: a network fine-tuned with its noise map
    (arch "mapped") keeps its parent's, so the engine gives it a map; else a blind
    self-supervised model."""
    parent = trainer.init_card or {}
    if trainer.arch == "mapped" and parent.get("noise_model") not in (None, "self-supervised"):
        return {"noise_model": parent["noise_model"],
                "sigma_range": list(parent.get("sigma_range") or [0, 100])}
    return {"noise_model": "self-supervised", "sigma_range": [0, 0]}


def model_card(trainer, module) -> dict:
    """The model card (:data:`..weights.CARD_SCHEMA`) of ``module`` trained by ``trainer``."""
    s = trainer.sampler
    what = PAIR_WORDS[trainer.pairs]
    nd = "3-D" if trainer.dims == 3 else "2-D"
    if trainer.init_name:
        src = (trainer.init_card or {}).get("name") or trainer.init_name
        how = f"{nd} {trainer.arch} fine-tuned from {src} by self-supervision"
    else:
        how = f"{nd} {trainer.arch} trained by self-supervision"
    dom = dict(getattr(s, "noise_domain", None) or {"noise_domain": "raw"})
    if dom["noise_domain"] == "gat":
        t = dom["noise_transform"]
        lo, hi = dom["raw_range"]
        norm = (f"Generalized Anscombe Transform of variance = {t['a']:.6g} * signal "
                f"{t['b']:+.6g} (fitted on the training data), then scaled to [0, 1] by the "
                f"transform of the data range (low, high) measured as at denoise time "
                f"(percentiles 0.01/99.99, or the dtype's range for uint8 and [0, 1] "
                f"floats); training data range {lo:.6g} to {hi:.6g}")
        extra = {"noise_domain": "gat", "noise_transform": dict(t),
                 "data_range": [float(lo), float(hi)]}
    else:
        norm = (f"raw intensities, scaled to [0, 1] by the data range (low, high) as at "
                f"denoise time (percentiles 0.01/99.99, or the dtype's range for uint8 and "
                f"[0, 1] floats); training data range {s.lo:.6g} to {s.hi:.6g}")
        extra = {"noise_domain": "raw", "data_range": [float(s.lo), float(s.hi)]}
    return {
        "name": trainer.name,
        "description": (f"{how} ({what}) on the user's data of shape "
                        f"{trainer.data_shape} ({trainer.data_dtype})"),
        "arch": trainer.arch,
        "arch_args": dict(trainer.arch_args),
        "dims": int(trainer.dims),
        "channels": int(getattr(module, "in_channels", 1)),
        **noise_card(trainer),
        "normalisation": norm,
        **extra,
        "training_data": (f"user data, shape {list(trainer.data_shape)}, {trainer.data_dtype}"
                          + (f", axes {trainer.axes}" if trainer.axes else "")),
        "recipe": recipe_call(trainer),
        "metrics": card_metrics(trainer),
        "training": dict(s.describe(), **({"axis": trainer.axis_desc}
                                          if trainer.pairs in ("neighbors", "others")
                                          else {}),
                         steps=int(trainer.step), total=trainer.total,
                         batch=trainer.batch_size, lr=trainer.lr, seed=trainer.seed,
                         init=trainer.init_name),
        "parameters": int(sum(p.numel() for p in module.parameters())),
        "licence": "the user's: trained on their own data",
        "limitations": LIMITATIONS,
    }
