"""Checkpoints of a self-supervised training: everything needed to continue exactly.

A checkpoint is a ``torch.save`` file of plain tensors, numbers and JSON strings
(loaded with ``weights_only=True``): the network, the optimiser, the step, the best
model so far, the history, the random state of the pair sampler, and the settings:
``options`` is :meth:`.n2n_config.Noise2NoiseConfig.as_dict` (rebuilt by
:func:`read_config`), ``config`` what must match to continue (the pairs, the network
and the data's shape and type).
"""

from __future__ import annotations

import json
from pathlib import Path

from .n2n_config import Noise2NoiseConfig

CKPT_FORMAT = "napari-denoise self-supervised checkpoint 1"


def must_match(trainer) -> dict:
    """What a checkpoint must share with the trainer that continues it."""
    return {"pairs": trainer.pairs, "arch": trainer.arch, "arch_args": trainer.arch_args,
            "dims": trainer.dims, "data_shape": list(trainer.data_shape),
            "data_dtype": trainer.data_dtype,
            "range": [trainer.sampler.lo, trainer.sampler.hi]}


def save_checkpoint(trainer, path) -> Path:
    """Write ``trainer``'s state to ``path`` (atomic: a ``.part`` file renamed)."""
    import torch

    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": CKPT_FORMAT,
        "config": json.dumps(must_match(trainer)),
        "options": json.dumps(trainer.config.as_dict()),
        "model": {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
        "opt": trainer.opt.state_dict(),
        "step": int(trainer.step),
        "total": -1 if trainer.total is None else int(trainer.total),
        "best_val": float(trainer.best_val),
        "best_step": -1 if trainer.best_step is None else int(trainer.best_step),
        "best_state": trainer.best_state or {},
        "last_val_step": -1 if trainer.last_val_step is None else int(trainer.last_val_step),
        "history": json.dumps(trainer.history),
        "losses": json.dumps(trainer.losses[-1000:]),
        "rng": json.dumps(trainer.sampler.get_state()),
        "seconds": float(trainer.seconds),
        "name": trainer.name,
    }
    tmp = path.with_name(path.name + ".part")
    try:
        torch.save(state, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path) -> dict:
    """The checkpoint's contents; ``FileNotFoundError`` or a one-line ``ValueError``."""
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
    return state


def read_config(path) -> Noise2NoiseConfig | None:
    """The settings the checkpoint at ``path`` was written with (None: a checkpoint of
    an earlier version, without them)."""
    options = read_checkpoint(path).get("options")
    return None if options is None else Noise2NoiseConfig.from_dict(json.loads(options))


def load_checkpoint(trainer, path) -> None:
    """Put the state of the checkpoint at ``path`` into ``trainer`` (same data and
    settings, else a ``ValueError`` naming what differs)."""
    path = Path(path).expanduser()
    state = read_checkpoint(path)
    saved = json.loads(state["config"])
    mine = json.loads(json.dumps(must_match(trainer)))
    diff = [k for k in mine if k != "range" and saved.get(k) != mine[k]]
    if diff:
        raise ValueError(f"{path.name} was written for other data or settings "
                         f"({', '.join(f'{k}: {saved.get(k)} vs {mine[k]}' for k in diff)})")
    trainer.model.load_state_dict(state["model"])
    trainer.opt.load_state_dict(state["opt"])
    trainer.step = int(state["step"])
    if trainer.config.steps is None and trainer.config.minutes is None and state["total"] > 0:
        trainer.total = int(state["total"])
    trainer.best_val = float(state["best_val"])
    trainer.best_step = None if state["best_step"] < 0 else int(state["best_step"])
    trainer.best_state = state["best_state"] or None
    trainer.last_val_step = None if state["last_val_step"] < 0 else int(state["last_val_step"])
    trainer.history = json.loads(state["history"])
    trainer.losses = json.loads(state["losses"])
    trainer.sampler.set_state(json.loads(state["rng"]))
    trainer.seconds = float(state["seconds"])
    if trainer.history:
        trainer.last_val = trainer.history[-1]["val_loss"]
        trainer.last_psnr = trainer.history[-1]["val_psnr"]
    if not trainer.config.name:
        trainer.name = state.get("name", trainer.name)
