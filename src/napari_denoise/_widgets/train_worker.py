"""What runs in the Train widget's worker (no Qt, no napari).

:func:`train_worker` is the body of the napari thread worker: it builds the
:class:`~napari_denoise.core.training.n2n.Noise2NoiseTrainer` (or takes the one
resumed), iterates its ``run()`` and yields progress messages, with now and then a
denoised preview of a plane the main thread copied for it (:class:`PreviewRequest`).
A :class:`TrainJob` is what the widget knows of the training in flight.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .denoise_worker import WorkerRuntimeError

logger = logging.getLogger(__name__)


@dataclass
class PreviewRequest:
    """A plane to preview, copied on the main thread."""

    plane: np.ndarray
    axes: str          # "YX" or "YXC"
    props: dict        # add_image keyword arguments of the preview layer
    key: Any = None    # which plane of the layer it is (slice_preview.slice_key)
    where: str = ""    # that plane in words ("Z 5"; "" for a 2-D image)


@dataclass
class TrainJob:
    """A training in flight: a new one (``data`` and ``config``) or a resumed ``trainer``."""

    layer: Any                     # the data layer (None when it is gone)
    layer_name: str
    data: Any = None               # the layer's array (converted in the worker)
    config: Any = None             # the Noise2NoiseConfig of a new training
    target: Any = None             # the second capture's array (pairs "two")
    reference: Any = None          # clean data, for the validation PSNR
    trainer: Any = None            # built in the worker, or the one resumed
    stop: threading.Event = field(default_factory=threading.Event)
    #: set when the panel closed: the model is saved (as ``save_name``) when training stops
    closed: threading.Event = field(default_factory=threading.Event)
    save_name: str = ""
    saved_path: Any = None         # where it was saved, once it was
    lock: threading.Lock = field(default_factory=threading.Lock)
    request: PreviewRequest | None = None   # a preview asked for, not yet made
    last_request: PreviewRequest | None = None  # for the final preview
    resumed: bool = False
    pbar: Any = None
    t0: float = field(default_factory=time.perf_counter)

    def ask_preview(self, req: PreviewRequest, *, final_only: bool = False) -> None:
        """Ask for a preview of ``req`` (``final_only``: only for the final preview)."""
        with self.lock:
            if not final_only:
                self.request = req
            self.last_request = req

    def take_preview(self) -> PreviewRequest | None:
        with self.lock:
            req, self.request = self.request, None
            return req


def release_gpu(trainer) -> None:
    """Move a trainer off its GPU and give the cached memory back (between runs;
    Resume moves it back). Nothing on the CPU, or when torch is not loaded."""
    torch = sys.modules.get("torch")
    if torch is None or trainer is None:
        return
    dev = getattr(trainer, "device", None)
    if dev is None or dev.type not in ("cuda", "mps"):
        return
    try:
        trainer.move_to("cpu")
        if dev.type == "cuda" and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        elif dev.type == "mps":
            torch.mps.empty_cache()
    except Exception as exc:  # noqa: BLE001 - freeing memory must not fail the run
        logger.debug("could not release GPU memory: %s", exc)


def save_on_close(result, name: str):
    """Save the model of a training whose panel closed into the user models folder,
    under ``name`` or, not to replace a model of that name, ``name_2``, ``name_3``...;
    returns the path (None when it could not be saved; the reason is logged)."""
    from ..core.models import user_models_dir
    from ..core.training.n2n_model import safe_name

    folder = user_models_dir()
    stem = safe_name(name or result.name)
    path, n = folder / f"{stem}.safetensors", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}_{n}.safetensors"
    try:
        path = result.save(path)
    except (OSError, ValueError) as exc:
        logger.error("the panel closed during training; saving its model to %s failed: %s",
                     path, exc)
        return None
    logger.warning("the panel closed during training; its best model was saved to %s", path)
    return path


def keep_best(job: TrainJob):
    """Once the worker of a training whose panel closed has ended (stopped, or aborted
    by napari when its window closed): save the best model so far unless the worker
    saved it already; returns the path (None when nothing was trained or saving failed)."""
    trainer = job.trainer
    if job.saved_path is None and trainer is not None and trainer.step > 0:
        try:
            result = trainer.result()
        except Exception as exc:  # noqa: BLE001 - reported, closing goes on
            logger.error("the panel closed during training; its model could not be kept: %s",
                         exc)
            return None
        job.saved_path = save_on_close(result, job.save_name)
    return job.saved_path


def make_preview(trainer, req: PreviewRequest, cache: dict, model=None):
    """Denoise the requested plane with the best model so far (or ``model``); False
    when that fails (a preview never stops training)."""
    try:
        if model is None:
            key = (trainer.best_step, trainer.step if trainer.best_step is None else None)
            if cache.get("key") != key:
                cache["model"] = trainer.result()
                cache["key"] = key
            model = cache["model"]
        out = model.denoise(req.plane, axes=req.axes, device=str(trainer.device))
    except Exception as exc:  # noqa: BLE001
        logger.warning("training preview failed: %s", exc)
        return False
    return {"image": out, "props": req.props, "step": int(trainer.step),
            "best_step": trainer.best_step, "key": req.key, "where": req.where}


def _trainer(job: TrainJob):
    """The job's trainer: built from its config, or the resumed one moved back."""
    try:
        if job.trainer is None:
            from ..core.training.n2n import Noise2NoiseTrainer

            job.trainer = Noise2NoiseTrainer(np.asarray(job.data), job.config,
                                             target=job.target, reference=job.reference)
        else:
            job.trainer.move_to(job.trainer.device)
    except RuntimeError as exc:
        raise WorkerRuntimeError(exc) from exc
    return job.trainer


def train_worker(job: TrainJob, min_interval: float = 0.1):
    """Build (or take) the trainer and run it; yield dicts with ``info`` (the trainer's
    progress dict), ``points`` (new (step, loss) pairs), ``history`` (new validation
    records) and ``preview`` (None or a denoised plane); return the TrainedModel (saved
    first, :func:`save_on_close`, when the panel closed)."""
    trainer = _trainer(job)
    seen = len(trainer.history)
    gen = trainer.run(stop=job.stop.is_set)
    points: list[tuple[int, float]] = []
    cache: dict = {}
    last, last_step = -math.inf, None
    try:
        while True:
            try:
                info = next(gen)
            except StopIteration as done:
                result = done.value
                break
            if info["loss"] is not None and info["step"] != last_step:
                points.append((info["step"], info["loss"]))
                last_step = info["step"]
            new = [dict(h) for h in trainer.history[seen:]]
            seen = len(trainer.history)
            req = job.take_preview()
            preview = make_preview(trainer, req, cache) if req is not None else None
            preview = None if preview is False else preview
            now = time.perf_counter()
            if (new or preview is not None or info["phase"] in ("start", "done")
                    or job.stop.is_set() or now - last >= min_interval):
                last = now
                yield {"info": info, "points": points, "history": new, "preview": preview}
                points = []
        if job.closed.is_set():  # no one to show it to: keep the model
            if result is not None and trainer.step > 0:
                job.saved_path = save_on_close(result, job.save_name)
            return result
        # the final preview, with the model that is returned
        req = job.take_preview() or job.last_request
        if req is not None and result is not None:
            preview = make_preview(trainer, req, cache, model=result)
            if preview is not False:
                yield {"info": info, "points": points, "history": [], "preview": preview}
        return result
    except RuntimeError as exc:
        raise WorkerRuntimeError(exc) from exc
    finally:
        gen.close()
        release_gpu(trainer)
