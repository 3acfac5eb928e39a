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
import time
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer

from .. import denoise_iter
from ..core.errors import DenoiseError
from ._layers import (NOISE_MAP_SUFFIX, current_slice, layer_axes, layer_data, layer_props,
                      noise_map_for, place_layer, plane_props, take_plane, value_range)
from .denoise_controls import DenoiseControls, device_choices
from .denoise_dock import find_docked, open_docked, raise_dock
from .denoise_estimate import SigmaEstimate, estimate_key
from .denoise_models import (KIND_LABELS, available_models, format_card, model_dims,
                             model_is_blind, model_key)
from .denoise_worker import (Job, WorkerRuntimeError, drive, format_seconds, progress_text,
                             release_gpu_memory, result_text)
from .settings import MODES, NOISE_MODELS, NOISE_MODES, DenoiseSettings, check_input

if TYPE_CHECKING:  # pragma: no cover
    import napari

logger = logging.getLogger(__name__)


class DenoiseWidget(DenoiseControls):
    """Denoise an image layer with a pretrained network, a classical method or your model."""

    #: slices with more pixels than this are previewed on their visible region only
    preview_max_pixels = 1024 * 1024
    #: layers with more elements than this get their noise estimated in a worker
    #: (about 0.2 s for 512x512 on one core)
    sync_estimate_max = 512 * 512

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self.worker = None           # the current (or last) run / preview worker
        self._job: Job | None = None
        self._estimates = SigmaEstimate(self._estimate_done, self._estimate_failed)
        self._watched = None  # the input layer whose data changes are followed
        self._status_layer = None  # the layer whose result the status line shows

        self.image_layer.changed.connect(self._on_layer_changed)
        self.method.changed.connect(self._on_method_changed)
        self.noise_mode.changed.connect(self._on_noise_mode_changed)
        self.noise_model.changed.connect(self._on_noise_model_changed)
        self.axes.changed.connect(self._on_axes_changed)
        self.preview_button.changed.connect(self.preview)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        ev = self._viewer.layers.events
        for e in (ev.inserted, ev.removed, ev.reordered, ev.renamed):
            e.connect(self._refresh_layers)
        self._viewer.layers.selection.events.active.connect(self._on_active_layer)
        self.native.destroyed.connect(self._on_destroyed)

        self._on_method_changed()
        self._on_active_layer()
        self._on_layer_changed()
        self._on_noise_mode_changed()

    # -- state -----------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._job is not None

    @property
    def estimate_worker(self):
        """The current (or last) noise-estimation worker, if any."""
        return self._estimates.worker

    def settings(self) -> DenoiseSettings:
        """The controls' values, with the input's noise estimate when it is known."""
        return self.settings_with(self._estimates.get(self.image_layer.value,
                                                      self._axes_or_none()))

    def refresh_models(self):
        """Re-list the models (e.g. after training or copying one into the models folder)."""
        self.method.reset_choices()
        self._on_method_changed()

    # -- following the layers -----------------------------------------------------------

    def _refresh_layers(self, event=None):
        for w in (self.image_layer, self.noise_map):
            w.reset_choices()
        if self.image_layer.value is not self._watched:  # e.g. the last image was removed
            self._on_layer_changed()
        elif getattr(event, "type", None) == "inserted":
            layer = self.image_layer.value
            if layer is not None and noise_map_for(getattr(event, "value", None)) == layer.name:
                self._preselect_noise_map()  # a new map for the input (Noise map widget)

    def _preselect_noise_map(self):
        """Choose the Noise map widget's map for the current input, if there is one."""
        layer = self.image_layer.value
        if layer is None:
            return
        found = [m for m in self.noise_map.choices if noise_map_for(m) == layer.name]
        own = [m for m in found if m.name == layer.name + NOISE_MAP_SUFFIX]
        if (own or found) and self.noise_map.value is not (own or found)[0]:
            self.noise_map.value = (own or found)[0]

    def _on_active_layer(self, event=None):
        """Follow the layer selected in the layer list, unless it is one of our outputs
        or a noise map is being chosen (map mode: both layers are picked explicitly)."""
        layer = self._viewer.layers.selection.active
        if not isinstance(layer, Image) or "napari_denoise" in layer.metadata:
            return
        if self.noise_mode.value == "map":
            return
        self.image_layer.reset_choices()
        if layer in self.image_layer.choices and self.image_layer.value is not layer:
            self.image_layer.value = layer

    def _watch(self, layer):
        """Follow the data of ``layer`` (range, axes, noise) and no other layer's."""
        if self._watched is layer:
            return
        if self._watched is not None:
            self._watched.events.data.disconnect(self._on_layer_changed)
        if layer is not None:
            layer.events.data.connect(self._on_layer_changed)
        self._watched = layer

    def _on_layer_changed(self, value=None):
        layer = self.image_layer.value
        if layer is not self._status_layer and not self.is_running:
            self.status.value = ""  # the last result was another layer's
            self._status_layer = None
        self.noise_map.reset_choices()  # any image layer but the input
        self._preselect_noise_map()
        self._watch(layer)
        if layer is None:
            self.axes.value = ""
            self.sigma_info.value = "Add an image layer to denoise."
            return
        # the manual range first (in the data's units), then the axes (which may estimate)
        self.set_value_range(*value_range(layer))
        self.axes.value = layer_axes(layer)
        self.processing.reset_choices()
        if self.noise_mode.value == "auto":
            self.estimate_noise()

    # -- reactions to the controls --------------------------------------------------------

    def _on_method_changed(self, value=None):
        self.show_method()

    def _on_axes_changed(self, value=None):
        self.show_axes()
        ax = self._axes_or_none()
        if ax and self.noise_mode.value == "auto" and \
                self._estimates.get(self.image_layer.value, ax) is None:
            self.estimate_noise()

    def _on_noise_mode_changed(self, value=None):
        self.show_noise_mode()
        if self.noise_mode.value == "map":
            self._preselect_noise_map()
        if self.noise_mode.value == "auto":
            self.estimate_noise()

    def _on_noise_model_changed(self, value=None):
        sigma = self._estimates.get(self.image_layer.value, self._axes_or_none())
        if sigma is not None:
            self.show_estimate(sigma)

    # -- noise estimate -----------------------------------------------------------------

    def estimate_noise(self):
        """Estimate the noise level of the chosen layer and show it (auto mode)."""
        layer, ax = self.image_layer.value, self._axes_or_none()
        if layer is None:
            return
        if ax is None:
            self.sigma_info.value = "Set valid axes to estimate the noise level."
        elif layer.multiscale:
            self.sigma_info.value = "Noise estimation is not available for multiscale layers."
        elif self._estimates.get(layer, ax) is not None:
            self.show_estimate(self._estimates.get(layer, ax))
        elif self._estimates.start(layer, ax, self.sync_estimate_max):
            self.sigma_info.value = "Estimating the noise level..."

    def _estimate_done(self, key: tuple, sigma: float):
        try:
            layer = self.image_layer.value
            if layer is None or key != estimate_key(layer, self._axes_or_none()):
                return  # stale: the selection or the data changed meanwhile
            self._estimates.store(key, sigma)
            self.show_estimate(sigma)
            if self.noise_mode.value != "manual":
                self.sigma_value.value = min(sigma, self.sigma_value.max)
        except RuntimeError:  # the widget was deleted while the worker ran
            pass

    def _estimate_failed(self, key: tuple, exc: BaseException):
        try:
            self.sigma_info.value = f"Noise estimation failed: {exc}. Set the noise level manually."
        except RuntimeError:  # the widget was deleted while the worker ran
            pass

    # -- run / preview / cancel ---------------------------------------------------------

    def run(self, value=None):
        """Denoise the whole layer into ``<name>_denoised`` (in a worker)."""
        return self._launch("run")

    def preview(self, value=None):
        """Denoise the slice shown (its visible region for big images) into ``<name>_preview``."""
        return self._launch("preview")

    def cancel(self, value=None):
        """Stop the current run at the next tile; nothing is added."""
        job = self._job
        if job is None or self.worker is None:
            return
        job.cancel.set()
        self.worker.quit()
        self.status.value = "Cancelling..."

    def _launch(self, kind: str):
        if self._job is not None:
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
        return self._start(job, denoise_iter(image, **kwargs))

    def _prepare(self, kind: str, layer: Image, settings: DenoiseSettings):
        """(job, image, engine keyword arguments) for a run of the whole layer, or for a
        preview of the slice shown; a DenoiseError for what the engine would refuse."""
        image = layer_data(layer)
        kwargs = settings.engine_kwargs()
        check_input(image, kwargs, rgb=layer.rgb)
        props = layer_props(layer)
        if kind == "preview":
            index, disp = current_slice(self._viewer, layer, self.preview_max_pixels)
            image = take_plane(image, index, disp)
            smap = settings.noise_map if settings.noise_mode == "map" else None
            if smap is not None:
                smap = take_plane(smap, index, disp, np.float32)
            kwargs = settings.for_plane(layer.rgb, smap).engine_kwargs()
            check_input(image, kwargs, rgb=layer.rgb)
            props = plane_props(props, index, disp)
        out = f"{layer.name}_{'preview' if kind == 'preview' else 'denoised'}"
        return Job(kind, layer, layer.name, out, props, kwargs["device"]), image, kwargs

    def _start(self, job: Job, gen):
        job.gen = gen
        self._job = job
        worker = create_worker(
            drive, gen, job.cancel, _start_thread=False,
            _connect={"yielded": self._on_progress, "returned": self._on_returned,
                      "errored": self._on_errored, "aborted": self._on_aborted,
                      "finished": self._on_finished},
        )
        self.worker = worker
        job.pbar = napari_progress(total=0, desc=f"Denoising {job.layer_name}" +
                                   (" (preview)" if job.kind == "preview" else ""))
        self.set_busy(True)
        self.progress_bar.value = 0
        self.status.value = "Starting..." if job.kind == "run" else "Previewing..."
        # started from the event loop, so callers can connect to the worker's signals first
        QTimer.singleShot(0, worker.start)
        return worker

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
        meta["napari_denoise"] = dict(info)
        if job.kind == "preview":
            meta["napari_denoise"]["preview"] = True
        place_layer(self._viewer, job.out_name, result.image, dict(job.props, metadata=meta))
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
        self.status.value = "Cancelled."
        self.progress_bar.value = 0

    def _on_finished(self):
        job, self._job = self._job, None
        if job is not None:
            if job.gen is not None:
                try:
                    job.gen.close()
                except (RuntimeError, ValueError):  # still running (cannot happen) / closed
                    pass
            if job.pbar is not None:
                job.pbar.close()
            release_gpu_memory(job.device)
        self.set_busy(False)

    def _on_destroyed(self, *args):
        if self._job is not None:
            self._job.cancel.set()
        self._estimates.quit()
        if self.worker is not None:
            try:
                self.worker.quit()
            except RuntimeError:
                pass


def find_denoise_widget(viewer) -> DenoiseWidget | None:
    """The Denoise widget docked in the viewer's window, if any."""
    return find_docked(viewer, DenoiseWidget)


def open_denoise_widget(viewer, notify) -> DenoiseWidget | None:
    """The docked Denoise widget, docked first if there is none; ``notify(msg)`` on failure."""
    return open_docked(viewer, "napari-denoise", "Denoise", DenoiseWidget, notify)


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
