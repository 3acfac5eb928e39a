"""The "Noise map" dock widget.

A thin layer of controls over :func:`napari_denoise.core.noise.estimate_noise` and
:meth:`NoiseEstimate.sigma_map`: the fit runs in a napari thread worker (on a few
planes of big or lazy stacks), its binned mean-variance points and fitted line are
plotted, the gain ``a`` and offset ``b`` can be edited, and the per-pixel noise std
(data units, times ``strength``) is shown as ONE layer ``"<input> noise map"``, which
the Denoise widget's "map" noise mode picks up (layer metadata
``["napari_denoise"]["noise_map_for"]`` names the input layer). The map can also be
taken from an image layer the user painted or computed. The input layer is only read.

The fields are laid out in :mod:`.noise_map_controls`, the plot is
:mod:`.noise_map_plot`, and what is accepted, sampled and affordable (and the work done
in the threads) is decided in :mod:`.noise_map_rules`; this module connects them and
runs the workers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer

from ._layers import layer_axes, layer_props, noise_map_for, place_layer, value_range
from ._lifetime import Lifetime
from .denoise import DenoiseWidget, open_denoise_widget, raise_dock
from .noise_map_controls import NoiseMapControls, map_layer_name
from .noise_map_plot import MeanVariancePlot
from .noise_map_rules import (MEMORY_FRACTION, NOISE_MODELS, SAMPLE_ABOVE, SOURCE_LAYER,
                              SOURCE_MODEL, check_layer, check_map_source, check_mappable,
                              edited_estimate, fit_noise, layer_map, map_budget, map_bytes,
                              map_meta, map_summary, map_too_big, model_map, model_words,
                              read_axes,
                              require_estimate, should_sample)

if TYPE_CHECKING:  # pragma: no cover
    import napari

logger = logging.getLogger(__name__)

#: what the map layer takes from its input (besides metadata and colormap)
MAP_PLACEMENT = ("scale", "translate", "units", "axis_labels")


class NoiseMapWidget(NoiseMapControls):
    """Fit a noise model to an image layer and show its per-pixel noise map."""

    #: numpy stacks with more elements than this (and every lazy array) are
    #: estimated on a few evenly spaced planes
    sample_above = SAMPLE_ABOVE
    #: fraction of the available memory a map computation may use
    memory_fraction = MEMORY_FRACTION
    #: a hard cap on the map computation's memory (bytes); None: the available memory
    max_map_bytes: float | None = None
    #: edits of a, b and strength are applied after this pause (ms)
    edit_delay_ms = 300

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self.estimate = None          # the current NoiseEstimate (fitted or edited)
        self._est_layer = None        # the layer it belongs to
        self.estimate_worker = None
        self._estimate_request = 0    # increases with every estimate; stale ones dropped
        self.map_worker = None
        self._map_pending = False     # a map was asked for while one was computed
        self._map_request = 0         # increases with every request; stale results dropped
        self._pending_job = None
        self._life = Lifetime(self.native, self._on_close)

        # a child of the widget: it goes with it and never fires into a deleted widget
        self._edit_timer = QTimer(self.native)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(self.edit_delay_ms)
        self._edit_timer.timeout.connect(self.apply_params)
        self._connect()

        active = self._viewer.layers.selection.active
        if active is not None and active in self.image_layer.choices:
            self.image_layer.value = active
        self._on_layer_changed()

    def _connect(self) -> None:
        self.image_layer.changed.connect(self._on_layer_changed)
        self.estimate_button.changed.connect(self.run_estimate)
        self.show_button.changed.connect(self.show_map)
        self.use_button.changed.connect(self.use_in_denoise)
        for w in (self.gain, self.offset, self.strength):
            w.changed.connect(self._on_edit)
        self.source.changed.connect(self._on_source_changed)
        self.source_layer.changed.connect(self._on_source_layer_changed)
        self._life.follow_layer_list(self._viewer.layers, self._refresh_layers)

    # -- reactions ---------------------------------------------------------------------

    def _refresh_layers(self, event=None):
        before = self.image_layer.value
        self.image_layer.reset_choices()
        self.source_layer.reset_choices()
        if self.image_layer.value is not before:
            self._on_layer_changed()

    def _on_layer_changed(self, value=None):
        layer = self.image_layer.value
        self.source_layer.reset_choices()
        if layer is not self._est_layer:  # an estimate belongs to its layer
            self.estimate, self._est_layer = None, None
            self.plot.clear()
            self._set_message("")
            self._fill_fields(None)
        if layer is None:
            self.axes.value = ""
            self.status.value = "Add an image layer."
            return
        self.axes.value = layer_axes(layer) if not layer.multiscale else ""
        if self.estimate is None:
            self.status.value = f"Press Estimate to fit the noise of '{layer.name}'."

    def _on_edit(self, value=None):
        if not self._updating:
            self._edit_timer.start()

    def _on_source_changed(self, value=None):
        self.source_layer.visible = self.source.value == SOURCE_LAYER
        self.source_layer.reset_choices()
        self._refresh_map()

    def _on_source_layer_changed(self, value=None):
        if self.source.value == SOURCE_LAYER:
            self._refresh_map()

    def _refresh_map(self):
        """Recompute the map if there is something to show it from."""
        if self.source.value == SOURCE_LAYER:
            if self.source_layer.value is not None:
                self.show_map()
        elif self.estimate is not None and self._est_layer is self.image_layer.value:
            self.show_map()

    def apply_params(self):
        """Take the gain, offset and strength from the fields; update the model, the plot
        and the map. Returns False when a field is invalid (the user is told)."""
        self._edit_timer.stop()
        try:
            est = edited_estimate(self.estimate, self.gain.value, self.offset.value)
        except ValueError as exc:
            self.status.value = f"Invalid gain or offset: {exc}"
            _notify_error(f"Noise map: invalid gain or offset ({exc})")
            return False
        if est is not None:
            self.estimate = est
            if self._est_layer is None:
                self._est_layer = self.image_layer.value
            self.plot.set_data(est.points, est.a, est.b, estimate=est,
                               signal_range=_signal_range(self._est_layer))
            self.status.value = f"Model (edited by hand): {model_words(est)}"
        self._refresh_map()
        return True

    def _set_busy(self, busy: bool, text: str = ""):
        """Estimating (or not); the busy bar also shows while a map is computed."""
        self.busy.visible = busy or self.map_worker is not None
        self.estimate_button.enabled = not busy
        if text:
            self.status.value = text

    def _refuse(self, exc: ValueError) -> None:
        _notify_error(f"Noise map: {exc}")
        self.status.value = str(exc)

    def _report_failure(self, what: str, exc) -> None:
        logger.debug("%s failed", what, exc_info=exc)
        _notify_error(f"{what} failed: {exc}")
        try:
            self.status.value = f"{what} failed: {exc}"
        except RuntimeError:  # the widget was deleted meanwhile
            pass

    # -- estimate ----------------------------------------------------------------------

    def run_estimate(self, value=None):
        """Fit the chosen noise model to the input layer (in a worker); an estimate still
        running is abandoned (asked to quit, its result dropped)."""
        layer = self.image_layer.value
        try:
            check_layer(layer)
            axes = read_axes(self.axes.value, layer)
        except ValueError as exc:
            self._refuse(exc)
            return None
        data = layer.data
        sample = should_sample(data, self.sample_above)
        key = (layer, id(data), axes)
        self._abandon_estimate()
        self._estimate_request += 1
        request = self._estimate_request
        worker = create_worker(
            fit_noise, data, axes, self.model.value, sample, _start_thread=False,
            _connect=self._life.callbacks({
                "returned": lambda est: self._on_estimated(request, key, est),
                "errored": lambda exc: self._on_estimate_error(request, exc),
                "finished": lambda: self._on_estimate_finished(request)}))
        self.estimate_worker = worker
        self._set_message("")
        self._set_busy(True, f"Estimating the noise of '{layer.name}'" +
                       (" on a few planes..." if sample else "..."))
        return self._life.start(worker)

    def _abandon_estimate(self) -> None:
        """Ask the running estimate to quit; whatever it still reports is ignored (its
        request number is no longer the current one)."""
        old, self.estimate_worker = self.estimate_worker, None
        if old is not None:
            try:
                old.quit()
            except RuntimeError:  # already deleted
                pass

    def _on_estimated(self, request, key, est):
        if request != self._estimate_request:  # abandoned for a newer estimate
            return
        try:
            layer = self.image_layer.value
            if layer is not key[0] or id(layer.data) != key[1]:
                self.status.value = "The image changed during the estimate: estimate again."
                return
            self.estimate, self._est_layer = est, layer
            self._fill_fields(est)
            self.plot.set_data(est.points, est.a, est.b, estimate=est,
                               signal_range=_signal_range(layer))
            self._set_message(est.message or "")
            self.status.value = f"Model: {model_words(est)}"
            if layer.rgb:
                self.status.value += " (no map is shown for RGB layers)"
            elif self.source.value == SOURCE_MODEL:
                self.show_map()
        except RuntimeError:  # the widget was deleted meanwhile
            pass

    def _on_estimate_error(self, request, exc):
        if request != self._estimate_request:  # abandoned for a newer estimate
            logger.debug("abandoned noise estimate failed", exc_info=exc)
            return
        self._report_failure("Noise estimation", exc)

    def _on_estimate_finished(self, request):
        if request != self._estimate_request:  # a newer estimate runs (or ran)
            return
        self.estimate_worker = None
        try:
            self._set_busy(False)
        except RuntimeError:
            pass

    # -- the map -----------------------------------------------------------------------

    def _map_budget(self) -> float:
        return map_budget(self.memory_fraction, self.max_map_bytes)

    def _map_work(self, layer):
        """(function, arguments, layer metadata, bytes needed) of the map of ``layer``;
        a ValueError when there is none to compute."""
        check_layer(layer)
        axes = read_axes(self.axes.value, layer)
        check_mappable(layer)
        strength = float(self.strength.value)
        est = self.estimate if self._est_layer is layer else None
        shape = tuple(layer.data.shape)
        if self.source.value == SOURCE_LAYER:
            src = self.source_layer.value
            check_map_source(layer, src)
            return (layer_map, (src.data, strength), map_meta(layer.name, strength, est, src.name),
                    map_bytes(shape))
        require_estimate(layer, est)
        return (model_map, (est, layer.data, axes, strength), map_meta(layer.name, strength, est),
                map_bytes(shape, est))

    def show_map(self, value=None):
        """Compute the map (in a worker) and add or update the layer ``"<input> noise map"``.
        Returns the worker, or None when nothing was started."""
        layer = self.image_layer.value
        try:
            func, args, meta, need = self._map_work(layer)
        except ValueError as exc:
            self._refuse(exc)
            return None
        too_big = map_too_big(layer.name, layer.data.shape, need, self._map_budget(),
                              meta["model"])
        if too_big:
            self.status.value = too_big
            return None
        self._map_request += 1
        job = (self._map_request, layer, layer.name, meta, func, args)
        self._pending_job = job
        if self.map_worker is not None:  # one at a time: the latest request runs next
            self._map_pending = True
            return self.map_worker
        return self._start_map(job)

    def _start_map(self, job):
        request, layer, name, meta, func, args = job
        worker = create_worker(
            func, *args, _start_thread=False,
            _connect=self._life.callbacks({
                "returned": lambda m: self._on_map(request, layer, name, meta, m),
                "errored": self._on_map_error, "finished": self._on_map_finished}))
        self.map_worker = worker
        self._map_pending = False
        self.busy.visible = True
        self.status.value = f"Computing the noise map of '{name}'..."
        return self._life.start(worker)

    def _on_map(self, request, layer, name, meta, data):
        if request != self._map_request:  # a newer request follows
            return
        try:
            if layer not in self._viewer.layers:
                self.status.value = f"'{name}' was removed; the map was dropped."
                return
            out = self._place_map(layer, data, meta)
            self.status.value = map_summary(out.name, data, meta["strength"])
        except RuntimeError:  # the widget was deleted meanwhile
            pass

    def _on_map_error(self, exc):
        self._report_failure("Noise map", exc)

    def _on_map_finished(self):
        self.map_worker = None
        try:
            if self._map_pending:
                self._start_map(self._pending_job)
            else:
                self.busy.visible = self.estimate_worker is not None
        except RuntimeError:  # the widget was deleted meanwhile
            pass

    def _place_map(self, layer: Image, data, meta: dict) -> Image:
        """Add the map layer, or update it in place; never touches ``layer``."""
        base = layer_props(layer)
        props = {k: base[k] for k in MAP_PLACEMENT}
        props.update(colormap="magma", metadata={"napari_denoise": dict(meta)})
        return place_layer(self._viewer, map_layer_name(layer.name), data, props,
                           reset_contrast=True)

    # -- Denoise widget ------------------------------------------------------------------

    def use_in_denoise(self, value=None) -> DenoiseWidget | None:
        """Select the input layer, the "map" noise level and this map in the Denoise widget
        (docked first if needed)."""
        layer, out = self.image_layer.value, self.map_layer
        if layer is None or out is None:
            _notify_error("Noise map: show a map first (Estimate, or Show map)")
            return None
        dw = open_denoise_widget(self._viewer, _notify_error, beside=self)
        if dw is None:
            return None
        dw.image_layer.reset_choices()
        if layer in dw.image_layer.choices:
            dw.image_layer.value = layer
        dw.noise_mode.value = "map"
        dw.noise_map.reset_choices()
        if out in dw.noise_map.choices:
            dw.noise_map.value = out
        raise_dock(dw)
        return dw

    def _on_close(self) -> None:
        """The panel closed: no pending edit is applied, the estimate and the map are
        abandoned (a map computation cannot stop midway: the panel waits briefly)."""
        try:
            self._edit_timer.stop()
        except RuntimeError:  # deleted already
            pass
        self._estimate_request += 1  # nothing reported from now on is used
        self._map_pending = False
        for w in (self.estimate_worker, self.map_worker):
            if w is not None:
                try:
                    w.quit()
                except RuntimeError:
                    pass


def _signal_range(layer) -> tuple[float, float] | None:
    """The layer's signal range as the engine reads it (robust percentiles), if any."""
    if layer is None or layer.rgb or layer.multiscale:
        return None
    try:
        return value_range(layer)
    except (ValueError, RuntimeError):
        return None


def _notify_error(msg: str) -> None:
    """Errors reach the user as a napari notification, never a traceback."""
    show_error(msg)


__all__ = ["MeanVariancePlot", "NOISE_MODELS", "NoiseMapWidget", "SOURCE_LAYER",
           "SOURCE_MODEL", "map_layer_name", "noise_map_for"]
