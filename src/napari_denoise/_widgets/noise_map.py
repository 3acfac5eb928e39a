"""The "Noise map" dock widget.

A thin layer of controls over :func:`napari_denoise.core.noise.estimate_noise` and
:meth:`NoiseEstimate.sigma_map`: the fit runs in a napari thread worker (on a few
planes of big or lazy stacks), its binned mean-variance points and fitted line are
plotted, the gain ``a`` and offset ``b`` can be edited, and the per-pixel noise std
(data units, times ``strength``) is shown as ONE layer ``"<input> noise map"``, which
the Denoise widget's "map" noise mode picks up (layer metadata
``["napari_denoise"]["noise_map_for"]`` names the input layer). The map can also be
taken from an image layer the user painted or computed. The input layer is only read.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    RadioButtons,
)
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import QPointF, QRectF, Qt, QTimer
from qtpy.QtGui import QColor, QPainter, QPen

from ..core.axes import AxesError, normalize_axes
from ._plot import PlotWidget
from .denoise import (NOISE_MAP_SUFFIX, DenoiseWidget, layer_axes, noise_map_for,
                      open_denoise_widget, raise_dock)

if TYPE_CHECKING:  # pragma: no cover
    import napari

    from ..core.noise import NoiseEstimate

logger = logging.getLogger(__name__)

NOISE_MODELS = ["poisson-gaussian", "gaussian", "auto"]
SOURCE_MODEL = "fitted model"
SOURCE_LAYER = "painted/computed layer"


def map_layer_name(input_name: str) -> str:
    """Name of the noise-map layer shown for the layer called ``input_name``."""
    return f"{input_name}{NOISE_MAP_SUFFIX}"


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _available_memory() -> float:
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - no psutil: ask the OS
        try:
            import os

            return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 4.0 * 1024**3


def _bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


# -- work done in threads (no napari state touched) -------------------------------------

def _estimate(data, axes: str, model: str, sample: bool) -> NoiseEstimate:
    from ..core.normalise import sample_planes
    from ..core.noise import estimate_noise

    arr = sample_planes(data, axes) if sample else np.asarray(data)
    with warnings.catch_warnings():  # a fallback is reported through est.message
        warnings.simplefilter("ignore", UserWarning)
        return estimate_noise(arr, axes=axes, model=model)


def _model_map(est: NoiseEstimate, data, axes: str, strength: float) -> np.ndarray:
    return est.sigma_map(np.asarray(data), axes=axes, strength=float(strength))


def _layer_map(data, strength: float) -> np.ndarray:
    out = np.array(data, dtype=np.float32)  # a copy: the source layer is never modified
    if not np.all(np.isfinite(out)):
        raise ValueError("the map layer contains NaN or infinite values")
    if out.size and float(out.min()) < 0:
        raise ValueError("the map layer has negative values; a noise std must be >= 0")
    if strength != 1.0:
        out *= np.float32(strength)
    return out


# -- the mean-variance plot -------------------------------------------------------------

class MeanVariancePlot(PlotWidget):
    """Binned (signal mean, variance) points and the fitted line ``a * x + b``,
    drawn with QPainter on linear axes labelled "signal" and "variance"."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.points: np.ndarray | None = None  # (n, 3): mean, variance, count
        self.a: float | None = None
        self.b: float | None = None

    def set_data(self, points, a: float | None, b: float | None):
        pts = None if points is None else np.asarray(points, dtype=np.float64)
        if pts is not None and (pts.ndim != 2 or pts.shape[1] < 2 or len(pts) == 0):
            pts = None
        if pts is not None:
            pts = pts[np.all(np.isfinite(pts[:, :2]), axis=1)]
        self.points = pts
        self.a, self.b = a, b
        self.update()

    def clear(self):
        self.set_data(None, None, None)

    def ranges(self) -> tuple[float, float, float, float] | None:
        """(x0, x1, y0, y1) of the plot, or None when there is nothing to show."""
        pts = self.points
        if pts is None or not len(pts):
            return None
        x0, x1 = float(pts[:, 0].min()), float(pts[:, 0].max())
        if x1 <= x0:
            x0, x1 = x0 - 0.5 * (abs(x0) or 1.0), x1 + 0.5 * (abs(x1) or 1.0)
        ys = list(pts[:, 1])
        if self.a is not None and self.b is not None:
            ys += [self.a * x0 + self.b, self.a * x1 + self.b]
        y0, y1 = min(0.0, float(min(ys))), float(max(ys))
        if y1 <= y0:
            y1 = y0 + (abs(y0) or 1.0)
        pad = 0.05 * (y1 - y0)
        return x0, x1, y0, y1 + pad

    def _paint(self, p: QPainter):
        fm = p.fontMetrics()
        th = fm.height()
        plot, text = self._frame(p, left=fm.horizontalAdvance("-0.000e-00") + 6, right=10,
                                 top=th + 6, bottom=2 * th + 6)
        # axis labels
        p.drawText(QRectF(plot.left(), plot.bottom() + th, plot.width(), th),
                   Qt.AlignmentFlag.AlignHCenter, "signal")
        p.drawText(QPointF(2, th - 1), "variance")
        dots, line = QColor(80, 150, 255), QColor(255, 150, 40)
        if self.a is not None and self.b is not None:
            title = f"fit: {_fmt(self.a)} * signal {self.b:+.4g}"
            p.setPen(QPen(line, 1))
            p.drawText(QPointF(plot.right() - fm.horizontalAdvance(title), th - 1), title)
            p.setPen(QPen(text, 1))
        r = self.ranges()
        if r is None:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no mean-variance points yet")
            return
        x0, x1, y0, y1 = r

        def sx(x):
            return plot.left() + (x - x0) / (x1 - x0) * plot.width()

        def sy(y):
            return plot.bottom() - (y - y0) / (y1 - y0) * plot.height()

        self._tick_labels(p, plot, f"{y1:.3g}", f"{y0:.3g}", f"{x0:.3g}", f"{x1:.3g}")
        p.setClipRect(plot)
        if self.a is not None and self.b is not None:
            p.setPen(QPen(line, 2))
            p.drawLine(QPointF(sx(x0), sy(self.a * x0 + self.b)),
                       QPointF(sx(x1), sy(self.a * x1 + self.b)))
        p.setPen(QPen(dots, 1))
        p.setBrush(dots)
        for x, y in self.points[:, :2]:
            p.drawEllipse(QPointF(sx(x), sy(y)), 3.0, 3.0)


# -- the widget ---------------------------------------------------------------------------

class NoiseMapWidget(Container):
    """Fit a noise model to an image layer and show its per-pixel noise map."""

    #: numpy stacks with more elements than this (and every lazy array) are
    #: estimated on a few evenly spaced planes
    sample_above = 16 * 1024 * 1024
    #: fraction of the available memory a map computation may use
    memory_fraction = 0.5
    #: a hard cap on the map computation's memory (bytes); None: the available memory
    max_map_bytes: float | None = None
    #: edits of a, b and strength are applied after this pause (ms)
    edit_delay_ms = 300

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self.estimate = None          # the current NoiseEstimate (fitted or edited)
        self._est_layer = None        # the layer it belongs to
        self.estimate_worker = None
        self._estimate_request = 0    # increases with every estimate; stale ones dropped
        self.map_worker = None
        self._map_pending = False     # a map was asked for while one was computed
        self._map_request = 0         # increases with every request; stale results dropped
        self._updating = False        # fields are being filled in from the model
        self._pending_job = None

        self.image_layer = ComboBox(name="image_layer", label="Image",
                                    choices=self._image_choices,
                                    tooltip="The image layer whose noise is modelled "
                                            "(never modified)")
        self.axes = LineEdit(name="axes", label="Axes",
                             tooltip="Axes of the data, e.g. YX, ZYX, TYX (guessed from the "
                                     "layer; with T the fit uses differences of frames)")
        self.model = ComboBox(name="model", label="Noise model", choices=NOISE_MODELS,
                              value="poisson-gaussian",
                              tooltip="poisson-gaussian: variance = a * signal + b (photon "
                                      "shot noise plus read noise); gaussian: one sigma; "
                                      "auto: Poisson-Gaussian when the variance clearly "
                                      "grows with the signal")
        self.estimate_button = PushButton(name="estimate_button", text="Estimate")
        self.busy = ProgressBar(name="busy", label=" ", min=0, max=1, value=0, visible=False)
        self.busy.native.setRange(0, 0)  # indeterminate: a busy indicator
        self.busy.native.setTextVisible(False)
        self.message = Label(name="message", label=" ", visible=False)
        self.plot = MeanVariancePlot()
        self.plot_box = Container(name="plot_box", label="Mean-variance", labels=False)
        self.plot_box.margins = (0, 0, 0, 0)
        self.plot_box.native.layout().addWidget(self.plot)
        self.gain = LineEdit(name="gain", label="Gain a",
                             tooltip="Variance added per unit of signal (data units), "
                                     "e.g. 0.01 or 1e-4; 0 gives Gaussian noise")
        self.offset = LineEdit(name="offset", label="Offset b",
                               tooltip="Variance at zero signal (data units squared), e.g. "
                                       "1e-3; negative for a pedestal (black level)")
        self.strength = FloatSpinBox(name="strength", label="Strength", min=0.1, max=5.0,
                                     step=0.1, value=1.0,
                                     tooltip="The map is multiplied by this: above 1 "
                                             "denoises more strongly, below 1 more gently")
        self.source = RadioButtons(name="source", label="Map from",
                                   choices=[SOURCE_MODEL, SOURCE_LAYER], value=SOURCE_MODEL,
                                   tooltip="The fitted (or edited) model, or an image layer "
                                           "of the same shape holding the noise std of every "
                                           "pixel in data units (painted or computed)")
        self.source_layer = ComboBox(name="source_layer", label="Map layer",
                                     choices=self._source_choices, visible=False,
                                     tooltip="An image layer with the same shape as the input "
                                             "(noise std in data units)")
        self.show_button = PushButton(name="show_button", text="Show map")
        self.use_button = PushButton(name="use_button", text="Use in Denoise",
                                     tooltip="Select the input and this map in the Denoise "
                                             "widget (noise level: map)")
        self.buttons = Container(name="buttons", label=" ", layout="horizontal", labels=False,
                                 widgets=[self.estimate_button, self.show_button,
                                          self.use_button])
        self.buttons.margins = (0, 0, 0, 0)
        self.status = Label(name="status", label=" ")
        self.extend([self.image_layer, self.axes, self.model, self.buttons, self.busy,
                     self.message, self.plot_box, self.gain, self.offset, self.strength,
                     self.source, self.source_layer, self.status])
        for lab in (self.message, self.status):
            lab.native.setWordWrap(True)

        # a child of the widget: it goes with it and never fires into a deleted widget
        self._edit_timer = QTimer(self.native)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(self.edit_delay_ms)
        self._edit_timer.timeout.connect(self.apply_params)

        self.image_layer.changed.connect(self._on_layer_changed)
        self.estimate_button.changed.connect(self.run_estimate)
        self.show_button.changed.connect(self.show_map)
        self.use_button.changed.connect(self.use_in_denoise)
        for w in (self.gain, self.offset, self.strength):
            w.changed.connect(self._on_edit)
        self.source.changed.connect(self._on_source_changed)
        self.source_layer.changed.connect(self._on_source_layer_changed)
        ev = self._viewer.layers.events
        for e in (ev.inserted, ev.removed, ev.reordered, ev.renamed):
            e.connect(self._refresh_layers)
        self.native.destroyed.connect(self._on_destroyed)

        active = self._viewer.layers.selection.active
        if active is not None and active in self.image_layer.choices:
            self.image_layer.value = active
        self._on_layer_changed()

    # -- choices ---------------------------------------------------------------------

    def _image_choices(self, widget=None):
        return [(layer.name, layer) for layer in self._viewer.layers
                if isinstance(layer, Image) and noise_map_for(layer) is None]

    def _source_choices(self, widget=None):
        current = getattr(self, "image_layer", None)
        current = current.value if current is not None else None
        if current is None:
            return []
        own = map_layer_name(current.name)
        shape = tuple(current.data.shape)
        return [(layer.name, layer) for layer in self._viewer.layers
                if isinstance(layer, Image) and layer is not current and layer.name != own
                and tuple(layer.data.shape) == shape]

    def _refresh_layers(self, event=None):
        before = self.image_layer.value
        self.image_layer.reset_choices()
        self.source_layer.reset_choices()
        if self.image_layer.value is not before:
            self._on_layer_changed()

    # -- state -----------------------------------------------------------------------

    @property
    def map_layer(self) -> Image | None:
        """The map layer shown for the current input, if any."""
        layer = self.image_layer.value
        if layer is None:
            return None
        out = self._layer_named(map_layer_name(layer.name))
        return out if isinstance(out, Image) else None

    def _layer_named(self, name: str):
        # by iteration: the viewer handed to plugin widgets may be a proxy whose
        # ``layers[name]`` is a proxy too (not ``is`` the layer in the combo boxes)
        for layer in self._viewer.layers:
            if layer.name == name:
                return layer
        return None

    def _axes(self, layer) -> str:
        try:
            return normalize_axes(self.axes.value, layer.data.ndim)
        except AxesError as exc:
            raise ValueError(f"{exc} ('{layer.name}' has shape {tuple(layer.data.shape)})"
                             ) from None

    def _check_layer(self, layer) -> None:
        if layer is None:
            raise ValueError("choose an image layer")
        if layer.multiscale:
            raise ValueError(f"'{layer.name}' is a multiscale (pyramid) layer; the noise map "
                             "works on single-resolution layers")
        if np.dtype(layer.data.dtype).kind not in "buif":
            raise ValueError(f"'{layer.name}' has data type {layer.data.dtype}; use an "
                             "integer or floating-point image")

    def _set_message(self, text: str):
        self.message.value = text
        self.message.visible = bool(text)

    def _set_busy(self, busy: bool, text: str = ""):
        """Estimating (or not); the busy bar also shows while a map is computed."""
        self.busy.visible = busy or self.map_worker is not None
        self.estimate_button.enabled = not busy
        if text:
            self.status.value = text

    # -- reactions ---------------------------------------------------------------------

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

    def _fill_fields(self, est):
        self._updating = True
        try:
            self.gain.value = "" if est is None else _fmt(est.a)
            self.offset.value = "" if est is None else _fmt(est.b)
        finally:
            self._updating = False

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
        text_a, text_b = self.gain.value.strip(), self.offset.value.strip()
        if text_a or text_b:
            try:
                a, b = float(text_a or 0), float(text_b or 0)
                from ..core.noise import NoiseEstimate

                old = self.estimate
                if old is None or _fmt(old.a) != _fmt(a) or _fmt(old.b) != _fmt(b):
                    est = NoiseEstimate.poisson_gaussian(
                        a, b, points=None if old is None else old.points, source="edited")
                    self.estimate = est
                    if self._est_layer is None:
                        self._est_layer = self.image_layer.value
                    self.plot.set_data(est.points, est.a, est.b)
                    self.status.value = f"Model (edited): {est}"
            except ValueError as exc:
                self.status.value = f"Invalid gain or offset: {exc}"
                _notify_error(f"Noise map: invalid gain or offset ({exc})")
                return False
        self._refresh_map()
        return True

    # -- estimate ----------------------------------------------------------------------

    def run_estimate(self, value=None):
        """Fit the chosen noise model to the input layer (in a worker); an estimate still
        running is abandoned (asked to quit, its result dropped)."""
        layer = self.image_layer.value
        try:
            self._check_layer(layer)
            axes = self._axes(layer)
        except ValueError as exc:
            _notify_error(f"Noise map: {exc}")
            self.status.value = str(exc)
            return None
        data = layer.data
        sample = not isinstance(data, np.ndarray) or data.size > self.sample_above
        model = self.model.value
        key = (layer, id(data), axes)
        self._abandon_estimate()
        self._estimate_request += 1
        request = self._estimate_request
        worker = create_worker(
            _estimate, data, axes, model, sample, _start_thread=False,
            _connect={"returned": lambda est: self._on_estimated(request, key, est),
                      "errored": lambda exc: self._on_estimate_error(request, exc),
                      "finished": lambda: self._on_estimate_finished(request)})
        self.estimate_worker = worker
        self._set_message("")
        self._set_busy(True, f"Estimating the noise of '{layer.name}'" +
                       (" on a few planes..." if sample else "..."))
        QTimer.singleShot(0, worker.start)
        return worker

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
            self.plot.set_data(est.points, est.a, est.b)
            self._set_message(est.message or "")
            self.status.value = f"Model: {est}"
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

    def _report_failure(self, what: str, exc) -> None:
        logger.debug("%s failed", what, exc_info=exc)
        _notify_error(f"{what} failed: {exc}")
        try:
            self.status.value = f"{what} failed: {exc}"
        except RuntimeError:  # the widget was deleted meanwhile
            pass

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
        budget = self.memory_fraction * _available_memory()
        if self.max_map_bytes is not None:
            budget = min(budget, float(self.max_map_bytes))
        return budget

    def show_map(self, value=None):
        """Compute the map (in a worker) and add or update the layer ``"<input> noise map"``.
        Returns the worker, or None when nothing was started."""
        layer = self.image_layer.value
        try:
            self._check_layer(layer)
            axes = self._axes(layer)
            if layer.rgb:
                raise ValueError(f"'{layer.name}' is an RGB layer: the noise map is shown for "
                                 "grayscale and multichannel layers only")
            strength = float(self.strength.value)
            est = self.estimate if self._est_layer is layer else None
            if self.source.value == SOURCE_LAYER:
                src = self.source_layer.value
                if src is None:
                    raise ValueError(f"choose a map layer with the shape of '{layer.name}' "
                                     f"{tuple(layer.data.shape)}")
                if tuple(src.data.shape) != tuple(layer.data.shape):
                    raise ValueError(f"the map layer '{src.name}' has shape "
                                     f"{tuple(src.data.shape)}; '{layer.name}' has "
                                     f"{tuple(layer.data.shape)}")
                func, args, per_elem = _layer_map, (src.data, strength), 8
                meta = {"source": f"layer '{src.name}'"}
            else:
                if est is None:
                    raise ValueError(f"estimate the noise of '{layer.name}' first (or choose "
                                     "a painted/computed map layer)")
                # input as float64, the smoothed signal, the variance and the float32 map
                per_elem = 4 if est.a == 0 else 28
                func, args = _model_map, (est, layer.data, axes, strength)
                meta = {"source": "fitted model" if est.source != "edited" else "edited model"}
        except ValueError as exc:
            _notify_error(f"Noise map: {exc}")
            self.status.value = str(exc)
            return None
        need = float(np.prod(layer.data.shape, dtype=np.float64)) * per_elem
        budget = self._map_budget()
        if need > budget:
            self.status.value = (
                f"The noise map of '{layer.name}' {tuple(layer.data.shape)} is not computed: "
                f"it needs about {_bytes(need)} of memory and {_bytes(budget)} can be used. "
                "Denoise with the Denoise widget's auto noise level and the "
                f"'{est.model if est is not None else 'poisson-gaussian'}' noise model, or "
                "from Python with napari_denoise.denoise(..., sigma=estimate).")
            return None
        meta.update(noise_map_for=layer.name, strength=strength,
                    model=est.model if est is not None else None,
                    a=est.a if est is not None else None,
                    b=est.b if est is not None else None)
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
            _connect={"returned": lambda m: self._on_map(request, layer, name, meta, m),
                      "errored": self._on_map_error,
                      "finished": self._on_map_finished})
        self.map_worker = worker
        self._map_pending = False
        self.busy.visible = True
        self.status.value = f"Computing the noise map of '{name}'..."
        QTimer.singleShot(0, worker.start)
        return worker

    def _on_map(self, request, layer, name, meta, data):
        if request != self._map_request:  # a newer request follows
            return
        try:
            if layer not in self._viewer.layers:
                self.status.value = f"'{name}' was removed; the map was dropped."
                return
            out = self._place_map(layer, data, meta)
            self.status.value = (f"Map '{out.name}': noise std {float(data.min()):.4g} to "
                                 f"{float(data.max()):.4g} (mean {float(data.mean()):.4g}, "
                                 f"data units, strength {meta['strength']:g}).")
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

    def _place_map(self, layer: Image, data: np.ndarray, meta: dict) -> Image:
        """Add the map layer, or update it in place; never touches ``layer``."""
        name = map_layer_name(layer.name)
        layers = self._viewer.layers
        out = self._layer_named(name)
        props = dict(scale=tuple(layer.scale), translate=tuple(layer.translate),
                     units=tuple(layer.units), axis_labels=tuple(layer.axis_labels))
        full_meta = {"napari_denoise": dict(meta)}
        if isinstance(out, Image) and not out.rgb and out.data.ndim == data.ndim:
            out.data = data
            for k, v in props.items():
                setattr(out, k, v)
            out.metadata.clear()
            out.metadata.update(full_meta)
            out.reset_contrast_limits()
            return out
        index = None
        if out is not None:  # a layer of that name we cannot reuse: replaced in place
            index = layers.index(out)
            layers.remove(out)
        new = self._viewer.add_image(data, name=name, colormap="magma", metadata=full_meta,
                                     **props)
        if index is not None:
            layers.move(layers.index(new), index)
        return self._layer_named(name) or new

    # -- Denoise widget ------------------------------------------------------------------

    def use_in_denoise(self, value=None) -> DenoiseWidget | None:
        """Select the input layer, the "map" noise level and this map in the Denoise widget
        (docked first if needed)."""
        layer, out = self.image_layer.value, self.map_layer
        if layer is None or out is None:
            _notify_error("Noise map: show a map first (Estimate, or Show map)")
            return None
        dw = open_denoise_widget(self._viewer, _notify_error)
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

    def _on_destroyed(self, *args):
        try:
            self._edit_timer.stop()
        except RuntimeError:  # deleted already
            pass
        self._estimate_request += 1  # nothing reported from now on is used
        for w in (self.estimate_worker, self.map_worker):
            if w is not None:
                try:
                    w.quit()
                except RuntimeError:
                    pass


def _notify_error(msg: str) -> None:
    """Errors reach the user as a napari notification, never a traceback."""
    show_error(msg)


__all__ = ["MeanVariancePlot", "NoiseMapWidget", "map_layer_name", "noise_map_for"]
