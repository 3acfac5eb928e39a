"""The Denoise dock widget.

Its controls (:mod:`.denoise_controls`) are read into a :class:`DenoiseSettings`
(:mod:`.settings`), whose ``engine_kwargs()`` go to :func:`napari_denoise.denoise_iter`
in a napari thread worker that yields the engine's :class:`Progress` objects
(:mod:`.denoise_worker`). Layers are only read or written on the main thread (before
the worker starts, and in the ``yielded`` / ``returned`` callbacks), through
:mod:`._layers`. The engine checks the input; its :class:`DenoiseError` messages
reach the user as notifications.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error, show_info, show_warning

from .. import denoise_iter
from ..core.errors import DenoiseError
from .big_run import goes_to_store, store_kwargs, store_path
from ._layers import (NOISE_MAP_SUFFIX, current_slice, layer_axes, layer_data, layer_props,
                      noise_map_for, place_layer, plane_props, take_plane)
from .denoise_controls import device_choices
from .denoise_dock import find_docked, open_docked, raise_dock
from .denoise_results import DenoiseResults
from .denoise_models import (KIND_LABELS, available_models, format_card, model_dims,
                             model_is_blind, model_key)
from .denoise_worker import (Job, WorkerRuntimeError, close_progress_bar, drive, format_seconds,
                             progress_text, release_gpu_memory, result_text)
from .run_record import preview_name, run_record, slice_label
from .settings import MODES, NOISE_MODELS, NOISE_MODES, DenoiseSettings, check_input
from .slice_preview import SlicePreviews

if TYPE_CHECKING:  # pragma: no cover
    import napari

logger = logging.getLogger(__name__)


class DenoiseWidget(DenoiseResults):
    """Denoise an image layer with a pretrained network, a classical method or your model."""

    #: slices with more pixels than this are previewed on their visible region only
    preview_max_pixels = 1024 * 1024

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self.worker = None           # the current (or last) run / preview worker
        self.preview_button.changed.connect(self.preview)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.on_the_fly_button.changed.connect(self.on_the_fly)
        self._previews = SlicePreviews(self._viewer, self._life, self._on_slice_changed)

        self._on_method_changed()
        self._on_active_layer()
        self._on_layer_changed()
        self._on_noise_mode_changed()

    # -- run / preview / cancel ---------------------------------------------------------

    def run(self, value=None):
        """Denoise the whole layer into ``<name>_denoised`` (in a worker), its settings
        in the layer's metadata; it replaces the last result unless that was kept."""
        return self._launch("run")

    def preview(self, value=None):
        """Denoise the slice shown (its visible region for big images) into a preview
        layer named after the slice and the settings, removed when the slice changes."""
        return self._launch("preview")

    def on_the_fly(self, value=None):
        """Add ``<name>_denoised (on the fly)``: each plane denoised when it is shown."""
        from .on_the_fly import start_on_the_fly

        return start_on_the_fly(self)

    def cancel(self, value=None):
        """Stop the current run at the next tile; nothing is added."""
        job = self._job
        if job is None or self.worker is None:
            return
        job.cancel.set()
        self.worker.quit()
        self.status.value = "Cancelling..."

    def _launch(self, kind: str):
        if self._job is not None or not self._life.alive:
            return None
        layer = self.image_layer.value
        try:
            if layer is None:
                raise DenoiseError("choose an image layer to denoise")
            job, image, kwargs = self._prepare(kind, layer, self.settings())
        except DenoiseError as exc:
            verb = "preview" if kind == "preview" else "denoise"
            _notify_error(f"Cannot {verb} '{layer.name}': {exc}" if layer else str(exc))
            return None
        if job.store is not None:  # too big for memory: plane by plane into a zarr store
            from ..core.chunked import denoise_to_zarr_iter

            return self._start(job, denoise_to_zarr_iter(image, job.store, **kwargs))
        return self._start(job, denoise_iter(image, **kwargs))

    def _prepare(self, kind: str, layer: Image, settings: DenoiseSettings):
        """(job, image, engine keyword arguments) for a run of the whole layer, or for a
        preview of the slice shown; a DenoiseError for what the engine would refuse."""
        image = layer_data(layer, multiscale=True)  # a pyramid: its full resolution
        kwargs = settings.engine_kwargs()
        check_input(image, kwargs, rgb=layer.rgb)
        props = layer_props(layer)
        map_layer = self.noise_map.value if settings.noise_mode == "map" else None
        if kind != "preview":
            job = Job(kind, layer, layer.name, f"{layer.name}_denoised", props, kwargs["device"],
                      record=run_record(settings), map_layer=map_layer)
            if goes_to_store(image):
                kwargs = store_kwargs(kwargs)
                job.store = store_path(layer.name, layer.source.path)
            return job, image, kwargs
        index, disp = current_slice(self._viewer, layer, self.preview_max_pixels)
        image = take_plane(image, index, disp)
        smap = settings.noise_map if settings.noise_mode == "map" else None
        if smap is not None:
            smap = take_plane(smap, index, disp, np.float32)
        plane = settings.for_plane(layer.rgb, smap)
        kwargs = plane.engine_kwargs()
        check_input(image, kwargs, rgb=layer.rgb)
        props = plane_props(props, index, disp)
        where = slice_label(index, self._axes_or_none() or layer_axes(layer))
        record = run_record(plane)
        job = Job(kind, layer, layer.name, preview_name(layer.name, where, record), props,
                  kwargs["device"], key=self._previews.key(layer), record=record,
                  map_layer=map_layer)
        return job, image, kwargs

    def _on_slice_changed(self) -> None:
        """Another plane is shown: a preview in flight would be stale, cancel it."""
        job = self._job
        if job is not None and job.kind == "preview" and \
                not self._previews.is_current(job.layer, job.key):
            job.why_cancelled = "The slice changed: preview cancelled."
            self.cancel()

    def _start(self, job: Job, gen):
        job.gen = gen
        self._job = job
        worker = create_worker(
            drive, gen, job.cancel, _start_thread=False,
            _connect=self._life.callbacks({
                "yielded": self._on_progress, "returned": self._on_returned,
                "errored": self._on_errored, "aborted": self._on_aborted,
                "finished": self._on_finished}),
        )
        self.worker = worker
        job.pbar = napari_progress(total=0, desc=f"Denoising {job.layer_name}" +
                                   (" (preview)" if job.kind == "preview" else ""))
        self.set_busy(True)
        self.progress_bar.value = 0
        self.status.value = "Starting..." if job.kind == "run" else "Previewing..."
        return self._life.start(worker)

    # -- worker callbacks (main thread) -------------------------------------------------

    def _on_progress(self, p):
        job = self._job
        if job is None:
            return
        self.progress_bar.value = int(round(1000 * p.fraction))
        self.status.value = progress_text(p)
        pb = job.pbar
        if pb is None:
            return
        if p.total > 1 and pb.total != p.total:
            pb.total = p.total
            pb.n = 0
        if p.total > 1 and p.done > pb.n:
            pb.update(p.done - pb.n)
        if p.message:
            pb.set_description(f"Denoising {job.layer_name}: {p.message}")

    def _on_returned(self, result):
        job = self._job
        if job is None or result is None:
            return
        seconds = time.perf_counter() - job.t0
        if job.layer not in self._viewer.layers:
            if job.kind == "preview":
                show_warning(f"'{job.layer_name}' was removed during the preview; "
                             "the preview was dropped")
                return
            show_warning(f"'{job.layer_name}' was removed while it was being denoised; "
                         f"the result was added as '{job.out_name}'")
        info = result.info
        meta = dict(job.props["metadata"])
        meta["napari_denoise"] = dict(info, settings=dict(job.record))
        if job.kind == "preview":
            if not self._previews.is_current(job.layer, job.key):
                self.status.value = "The slice changed during the preview: preview again."
                return
            meta["napari_denoise"]["preview"] = True
            self._previews.place(job.layer, job.key, job.out_name, result.image,
                                 dict(job.props, metadata=meta))
        else:  # replaces the last result unless it was kept
            out = place_layer(self._viewer, job.out_name, result.image,
                              dict(job.props, metadata=meta))
            if job.store is not None:
                job.stored = True
                show_info(f"{job.out_name}: written to {job.store} and shown from there")
            self._remember(job.layer, job.map_layer, job.record, out)
        self.progress_bar.value = 1000
        self.status.value = result_text(info, seconds)
        self._status_layer = job.layer
        for text in info.warnings:  # the result may be poor: say so, once each
            show_warning(f"{job.out_name}: {text}")
        for text in info.notes if job.kind != "preview" else []:
            show_info(f"{job.out_name}: {text}")

    def _on_errored(self, exc):
        name = self._job.layer_name if self._job else "the image"
        if isinstance(exc, WorkerRuntimeError):
            exc = exc.original
        if isinstance(exc, ValueError):  # DenoiseError and friends: messages for the user
            _notify_error(f"Denoising '{name}' failed: {exc}")
        else:
            logger.error("denoising failed", exc_info=exc)
            _notify_error(f"Denoising '{name}' failed: {type(exc).__name__}: {exc}")
        self.status.value = f"Failed: {exc}"

    def _on_aborted(self):
        job = self._job
        self.status.value = (job.why_cancelled if job is not None else "") or "Cancelled."
        self.progress_bar.value = 0

    def _on_finished(self):
        job, self._job = self._job, None
        if job is not None:
            _end_job(job)
        self.set_busy(False)

    def _on_close(self) -> None:
        """The panel closed: cancel the run or preview (nothing is added) and forget it."""
        super()._on_close()
        job = self._job
        if job is not None:
            job.cancel.set()
            if self.worker is not None:
                self.worker.quit()

    def _after_close(self, ended: bool) -> None:
        job, self._job = self._job, None
        if job is not None:
            _end_job(job, closed=ended)


def _end_job(job: Job, *, closed: bool = True) -> None:
    """Close a finished job's generator and progress bar and free its GPU memory
    (``closed``: its worker has ended, so its generator may be closed)."""
    if job.gen is not None and closed:
        try:
            job.gen.close()
        except (RuntimeError, ValueError):  # still running / closed already
            pass
    close_progress_bar(job.pbar)
    release_gpu_memory(job.device)
    if job.store is not None and not job.stored and closed:  # cancelled or failed
        shutil.rmtree(job.store, ignore_errors=True)


def find_denoise_widget(viewer) -> DenoiseWidget | None:
    """The Denoise widget docked in the viewer's window, if any."""
    return find_docked(viewer, DenoiseWidget)


def open_denoise_widget(viewer, notify, beside=None) -> DenoiseWidget | None:
    """The docked Denoise widget, docked first if there is none (as a tab beside the
    panel ``beside``); ``notify(msg)`` on failure."""
    return open_docked(viewer, "napari-denoise", "Denoise", DenoiseWidget, notify, beside)


def _notify_error(msg: str) -> None:
    """Errors reach the user as a napari notification, never a traceback."""
    show_error(msg)


__all__ = [
    "DenoiseWidget", "find_denoise_widget", "open_denoise_widget", "raise_dock",
    # re-exported: the other widgets and scripts import them from here
    "DenoiseSettings", "KIND_LABELS", "MODES", "NOISE_MAP_SUFFIX", "NOISE_MODELS",
    "NOISE_MODES", "WorkerRuntimeError", "available_models", "device_choices", "format_card",
    "format_seconds",
    "layer_axes", "model_dims", "model_is_blind", "model_key", "noise_map_for",
]
