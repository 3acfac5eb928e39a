"""The "Train Noise2Noise" dock widget.

A thin layer of controls (:mod:`.train_controls`) over
:class:`napari_denoise.core.training.n2n.Noise2NoiseTrainer` (the object behind
:func:`napari_denoise.train_noise2noise_iter`): the controls are read into a
:class:`~.train_settings.TrainSettings`, whose ``to_config()`` is the trainer's
configuration; a napari thread worker (:mod:`.train_worker`) builds the trainer and
iterates :meth:`~Noise2NoiseTrainer.run`, yielding progress dicts (with the new loss
points, the new validation records and, now and then, a denoised preview of the slice
shown). Layers are only read or written on the main thread, through :mod:`._layers`:
the slice to preview is copied there and handed to the worker, whose result comes
back through ``yielded``.

Stop ends training at the next step (the trainer keeps the best model so far);
Resume runs the same trainer object again (its weights, optimiser, schedule and
validation history) for the budget :meth:`Noise2NoiseTrainer.extend` sets, so the
step count goes on from where it stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error, show_info

from ..core.axes import AxesError
from ..core.errors import DenoiseError
from ..core.training.n2n_model import choice_words
from .denoise import DenoiseWidget, open_denoise_widget, raise_dock
from .denoise_worker import WorkerRuntimeError, close_progress_bar, format_seconds
from .train_plot import LossPlot
from .train_preview import TrainPreviews
from .train_worker import TrainJob, keep_best, release_gpu, train_worker

if TYPE_CHECKING:  # pragma: no cover
    import napari

logger = logging.getLogger(__name__)


class TrainWidget(TrainPreviews):
    """Train a denoiser on your own noisy data (Noise2Noise, Neighbor2Neighbor,
    Noise2Void): no clean images needed."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self.worker = None            # the current (or last) training worker
        self.trainer = None           # the trainer of the last training (for Resume)
        self.trained = None           # the last TrainedModel (best validation loss)
        self.saved_path: Path | None = None
        self.last_info: dict | None = None   # the trainer's latest progress dict
        self.history: list[dict] = []        # validation records of the current training
        self._job: TrainJob | None = None
        self._train_layer: Image | None = None
        life = self._life

        self.data_layer.changed.connect(self._on_data_changed)
        self.pairs.changed.connect(self._on_pairs_changed)
        self.init.changed.connect(self._on_init_changed)
        self.dims.changed.connect(self.show_dims)
        self.train_button.changed.connect(self.train)
        self.stop_button.changed.connect(self.stop)
        self.resume_button.changed.connect(self.resume)
        self.save_button.changed.connect(self.save)
        self.export_button.changed.connect(self.export)
        self.use_button.changed.connect(self.use_in_denoise)
        self.model_name.changed.connect(self._on_model_name)
        life.follow_layer_list(self._viewer.layers, self._refresh_layers)
        life.follow(self._viewer.layers.selection.events.active, self._on_active_layer)

        self._on_active_layer()
        self._on_data_changed()
        self._on_pairs_changed()
        self._on_init_changed()

    # -- following the layers and the controls ----------------------------------------

    def refresh_models(self):
        """Re-list the networks that can be fine-tuned."""
        self.init.reset_choices()
        self._on_init_changed()

    def _refresh_layers(self, event=None):
        for w in (self.data_layer, self.target_layer, self.reference_layer):
            w.reset_choices()
        self._on_data_changed()

    def _on_active_layer(self, event=None):
        """Follow the layer selected in the layer list, except our own outputs."""
        if self.is_running:
            return
        layer = self._viewer.layers.selection.active
        if not isinstance(layer, Image) or "napari_denoise" in layer.metadata:
            return
        self.data_layer.reset_choices()
        if layer in self.data_layer.choices and self.data_layer.value is not layer:
            self.data_layer.value = layer

    def _on_data_changed(self, value=None):
        self.show_data()

    def _on_pairs_changed(self, value=None):
        self.show_pairs()

    def _on_init_changed(self, value=None):
        self.show_init()

    def _on_model_name(self, value=None):
        if self._job is not None:  # the name a closing panel saves the model under
            self._job.save_name = self.model_name.value.strip()

    # -- state ----------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._job is not None

    def _set_busy(self, running: bool):
        self.set_busy(running, resumable=self.trainer is not None,
                      trained=self.trained is not None)

    # -- train / stop / resume ------------------------------------------------------------

    def train(self, value=None):
        """Start a new training on the chosen layer (in a worker); returns the worker."""
        if self._job is not None or not self._life.alive:
            return None
        try:
            config = self.settings().to_config()
        except (DenoiseError, AxesError, ValueError) as exc:
            _notify_error(str(exc))
            return None
        layer = self.data_layer.value
        target = self.target_layer.value if config.pairs in ("two", "auto") else None
        reference = self.reference_layer.value
        # a new training replaces the previous trainer (its model stays until replaced)
        old, self.trainer = self.trainer, None
        if old is not None:
            release_gpu(old)
        self.history = []
        self.last_info = None
        self.plot.clear()
        job = TrainJob(layer=layer, layer_name=layer.name, data=layer.data, config=config,
                       target=None if target is None else target.data,
                       reference=None if reference is None else reference.data)
        return self._start(job, f"Training on {layer.name}")

    def resume(self, value=None):
        """Continue the last training (same trainer: weights, optimiser, history)."""
        if self._job is not None or not self._life.alive:
            return None
        trainer = self.trainer
        if trainer is None:
            _notify_error("nothing to resume: train a model first")
            return None
        steps, minutes = self.settings().budget()
        trainer.extend(steps=steps, minutes=minutes)  # a finished schedule goes on
        layer = self._train_layer
        job = TrainJob(layer=layer, layer_name=layer.name if layer is not None else "data",
                       trainer=trainer, resumed=True)
        return self._start(job, f"Training on {job.layer_name} (resumed)")

    def stop(self, value=None):
        """End training at the next step; the best model so far is kept."""
        job = self._job
        if job is None:
            return
        job.stop.set()
        self.status.value = "Stopping after the current step..."

    def _start(self, job: TrainJob, desc: str):
        job.save_name = self.model_name.value.strip()
        self._job = job
        self._train_layer = job.layer
        worker = create_worker(
            train_worker, job, _start_thread=False,
            _connect=self._life.callbacks({
                "yielded": self._on_yielded, "returned": self._on_returned,
                "errored": self._on_errored, "finished": self._on_finished}),
        )
        self.worker = worker
        job.pbar = napari_progress(total=0, desc=desc)
        self.progress_bar.value = 0
        self.status.value = "Resuming..." if job.resumed else "Preparing the data and network..."
        self._set_busy(True)
        # the slice shown now serves the final preview if no other is asked for
        self._request_preview(initial=True)
        self._preview_timer.start(max(50, int(1000 * self.preview_interval)))
        return self._life.start(worker)

    # -- worker callbacks (main thread) ------------------------------------------------------

    def _on_yielded(self, msg: dict):
        job = self._job
        if job is None:
            return
        info = msg["info"]
        self.last_info = info
        self.history.extend(msg["history"])
        self.plot.add(msg["points"], msg["history"])
        step, total = info["step"], info["total"]
        if total:
            self.progress_bar.value = int(round(1000 * min(1.0, step / total)))
        text = info["message"]
        if info.get("best_step") is not None:
            text += f"; best at step {info['best_step']}"
        if info["phase"] != "done":
            text += f"; {format_seconds(info['elapsed'])} elapsed"
            if info.get("eta") is not None:
                text += f", ETA {format_seconds(info['eta'])}"
        if job.stop.is_set():
            text = "Stopping: " + text
        self.status.value = text
        why = info.get("setup_reason")
        self.status.tooltip = (info.get("setup") or "") + (f"\nPairs: {why}" if why else "")
        pb = job.pbar
        if pb is not None:
            if total and pb.total != total:
                pb.total = total
                pb.n = 0
            if total and step > pb.n:
                pb.update(step - pb.n)
        if msg.get("preview") is not None:
            self._show_preview(job, msg["preview"])

    def _on_returned(self, result):
        job = self._job
        if job is None or result is None:
            return
        self.trained = result
        self.saved_path = None
        info = self.last_info or {}
        stopped = job.stop.is_set()
        best = result.card.get("metrics", {}).get("best_step")
        steps = info.get("step", result.card.get("metrics", {}).get("steps"))
        what = "Stopped" if stopped else "Done"
        text = f"{what} at step {steps}"
        if best is not None:
            text += f"; {choice_words(result.card)}"
        setup = info.get("setup")
        self.status.value = text + (f". {setup[:1].upper()}{setup[1:]}" if setup else "") + \
            ". Save it, or use it in Denoise."
        self.progress_bar.value = 1000 if not stopped else self.progress_bar.value

    def _on_errored(self, exc):
        job = self._job
        name = job.layer_name if job is not None else "the data"
        if isinstance(exc, WorkerRuntimeError):
            exc = exc.original
        if isinstance(exc, ValueError):  # the core's messages are meant for the user
            _notify_error(f"Training on '{name}' failed: {exc}")
        else:
            logger.error("training failed", exc_info=exc)
            _notify_error(f"Training on '{name}' failed: {type(exc).__name__}: {exc}")
        try:
            self.status.value = f"Failed: {exc}"
        except RuntimeError:
            pass

    def _on_finished(self):
        job, self._job = self._job, None
        try:
            self._preview_timer.stop()
        except RuntimeError:
            pass
        if job is not None:
            if job.trainer is not None:
                self.trainer = job.trainer  # Resume continues it (even after an error)
            if job.pbar is not None:
                job.pbar.close()
        self._set_busy(False)

    # -- save / use ----------------------------------------------------------------------

    def save(self, value=None) -> Path | None:
        """Save the trained model into the user models folder; returns its path."""
        trained = self.trained
        if trained is None:
            _notify_error("nothing to save: train a model first")
            return None
        name = self.model_name.value.strip() or trained.name
        from ..core.models import user_models_dir

        trained.card["name"] = name
        target = user_models_dir()
        existed = any(p.stem == name for p in target.glob("*.safetensors")) \
            if target.is_dir() else False
        try:
            path = trained.save()
        except (OSError, ValueError) as exc:
            _notify_error(f"Saving '{name}' failed: {exc}")
            return None
        self.saved_path = Path(path)
        self.model_name.value = self.saved_path.stem
        _notify_info(f"Saved model '{self.saved_path.stem}' to {self.saved_path}"
                     + (" (replacing the earlier file)" if existed else ""))
        self.refresh_models()
        return self.saved_path

    def export(self, value=None, path=None):
        """Export the trained model (to ``path``, else where a save dialog says) in a
        worker: a BioImage Model Zoo package is tested by bioimageio before it is written.
        Returns the worker, or None."""
        from ..core.export.exporter import export_model
        from .model_io import ask_export_path

        trained = self.trained
        if trained is None:
            _notify_error("nothing to export: train a model first")
            return None
        name = self.model_name.value.strip() or trained.name
        path = path or ask_export_path(self.native, name)
        if not path:
            return None
        trained.card["name"] = name
        worker = create_worker(export_model, trained, path, None)
        worker.returned.connect(lambda p: _notify_info(f"Exported '{name}' to {p}"))
        worker.errored.connect(lambda exc: _notify_error(f"Export failed: {exc}"))
        self.export_worker = worker
        worker.start()
        return worker

    def use_in_denoise(self, value=None) -> DenoiseWidget | None:
        """Save if needed, then select the model in the Denoise widget (docked if needed)."""
        if self.trained is None:
            _notify_error("nothing to use: train a model first")
            return None
        name = self.model_name.value.strip() or self.trained.name
        path = self.saved_path
        if path is None or not path.exists() or path.stem != name:
            path = self.save()
            if path is None:
                return None
        dw = open_denoise_widget(self._viewer, _notify_error, beside=self)
        if dw is None:
            return None
        dw.refresh_models()
        key = None
        for v in dw.method.choices:
            try:
                if isinstance(v, str) and Path(v).resolve() == path.resolve():
                    key = v
                    break
            except (OSError, ValueError):
                continue
        if key is None:
            _notify_error(f"the Denoise widget does not list '{path.stem}' ({path})")
            return dw
        dw.method.value = key
        layer = self._train_layer
        if layer is not None and layer in dw.image_layer.choices:
            dw.image_layer.value = layer
        raise_dock(dw)
        return dw

    def _on_close(self) -> None:
        """The panel closed: stop training at the next step; the best model so far is
        saved once the worker ended (:func:`~.train_worker.keep_best`), or by the worker
        itself if it ends later."""
        job = self._job
        if job is not None:
            job.closed.set()
            job.stop.set()
        try:
            self._preview_timer.stop()
        except RuntimeError:  # deleted with the widget
            pass

    def _after_close(self, ended: bool) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        close_progress_bar(job.pbar)
        if ended:
            keep_best(job)
        if job.saved_path is not None:
            _notify_info(f"Training on '{job.layer_name}' stopped when its panel closed; "
                         f"its best model was saved to {job.saved_path}")
        elif not ended:
            from ..core.models import user_models_dir

            logger.warning("training on '%s' is stopping after its panel closed; its best "
                           "model will be saved in %s", job.layer_name, user_models_dir())


def _notify_error(msg: str) -> None:
    """Errors reach the user as a napari notification, never a traceback."""
    show_error(msg)


def _notify_info(msg: str) -> None:
    show_info(msg)


__all__ = ["LossPlot", "TrainWidget"]
