"""The "Train Noise2Noise" dock widget.

A thin layer of controls over :class:`napari_denoise.core.training.n2n.Noise2NoiseTrainer`
(the object behind :func:`napari_denoise.train_noise2noise_iter`): a napari thread
worker builds the trainer and iterates :meth:`~Noise2NoiseTrainer.run`, yielding
progress dicts (with the new loss points, the new validation records and, now and
then, a denoised preview of the slice shown). Layers are only read or written on the
main thread: the slice to preview is copied there and handed to the worker, whose
result comes back through ``yielded``.

Stop ends training at the next step (the trainer keeps the best model so far);
Resume runs the same trainer object again (its weights, optimiser, schedule and
validation history), so the step count goes on from where it stopped.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QPointF, Qt, QTimer
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy

from ..core.axes import AxesError
from ..core.inference import DenoiseError
from ._plot import PlotWidget
from .denoise import (DenoiseWidget, WorkerRuntimeError, available_models, format_seconds,
                      layer_axes, model_key, open_denoise_widget, raise_dock)

if TYPE_CHECKING:  # pragma: no cover
    import napari

logger = logging.getLogger(__name__)

PAIRS = [("neighbouring frames (Noise2Noise)", "neighbors"),
         ("two captures (Noise2Noise)", "two"),
         ("sub-sampled pixels (Neighbor2Neighbor)", "subsample"),
         ("blind spot (Noise2Void)", "blindspot")]
PAIR_HELP = {
    "neighbors": "Pairs each frame (or slice) of a stack with a neighbouring one: for time "
                 "series of a still or slowly moving sample and finely spaced Z stacks. "
                 "'any' distance pairs every two frames: only for a sample that does not "
                 "move. What changes between frames is treated as noise and blurred away.",
    "two": "Two captures of the same scene (pick the second one as 'Second capture', same "
           "shape): the best choice when you can image the sample twice.",
    "subsample": "Neighbor2Neighbor: pairs sub-images of one noisy image. For single "
                 "images, or stacks whose frames differ (moving samples, coarse Z steps). "
                 "Assumes pixel-independent noise.",
    "blindspot": "Noise2Void: predicts masked pixels from their surroundings. Also for "
                 "single images; assumes pixel-independent noise; often a little blurrier "
                 "than sub-sampled pairs.",
}
ARCHS = [("U-Net", "unet"), ("DnCNN", "dncnn")]
SIZES = [("tiny (quick trials)", "tiny"), ("small", "small"), ("standard", "standard"),
         ("large", "large")]
# architecture arguments per network size (None: the core's defaults)
ARCH_ARGS = {
    "unet": {"tiny": {"features": 8, "levels": 2}, "small": {"features": 16, "levels": 3},
             "standard": None, "large": {"features": 48, "levels": 4}},
    "dncnn": {"tiny": {"depth": 5, "features": 16}, "small": {"depth": 10, "features": 32},
              "standard": None, "large": {"depth": 20, "features": 64}},
}
LOSSES = ["l2", "l1", "charbonnier"]
DISTANCES = [("1 (adjacent frames)", 1), ("any (still sample)", "any")]
_NO_INIT = "__none__"


# -- the loss plot ---------------------------------------------------------------------------

class LossPlot(PlotWidget):
    """Training loss, validation loss (log scale, left) and validation PSNR (dB, right)
    against the step, drawn with QPainter; repainted at most every ``interval_ms``."""

    interval_ms = 500

    def __init__(self, parent=None):
        super().__init__(parent)
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.psnr: list[tuple[int, float]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self.update)

    def clear(self):
        self.train.clear()
        self.val.clear()
        self.psnr.clear()
        self.update()

    def add(self, train=(), history=()):
        """Append (step, loss) points and validation records; schedule a repaint."""
        self.train.extend((int(s), float(v)) for s, v in train
                          if v is not None and math.isfinite(v))
        for h in history:
            if h.get("val_loss") is not None:
                self.val.append((int(h["step"]), float(h["val_loss"])))
            if h.get("val_psnr") is not None and math.isfinite(h["val_psnr"]):
                self.psnr.append((int(h["step"]), float(h["val_psnr"])))
        if not self._timer.isActive():
            self._timer.start()

    def _paint(self, p: QPainter):
        fm = p.fontMetrics()
        th = fm.height()
        left, right = fm.horizontalAdvance("1e-00 ") + 4, 8
        if self.psnr:
            right = fm.horizontalAdvance("00.0 dB") + 6
        plot, text = self._frame(p, left=left, right=right, top=th + 6, bottom=th + 6)
        colours = {"train": QColor(80, 150, 255), "val": QColor(255, 150, 40),
                   "psnr": QColor(90, 200, 90)}
        # legend
        x = left
        for key, name in (("train", "train loss"), ("val", "validation loss"),
                          ("psnr", "val PSNR")):
            if key == "psnr" and not self.psnr:
                continue
            p.setPen(QPen(colours[key], 2))
            p.drawLine(QPointF(x, th / 2 + 2), QPointF(x + 14, th / 2 + 2))
            p.setPen(text)
            p.drawText(QPointF(x + 18, th - 1), name)
            x += 30 + fm.horizontalAdvance(name)
        losses = [v for _, v in self.train + self.val if v > 0]
        if not losses:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no training yet")
            return
        steps = [s for s, _ in self.train + self.val + self.psnr]
        s0, s1 = min(steps), max(steps)
        if s1 <= s0:
            s1 = s0 + 1
        lo, hi = math.log10(min(losses)), math.log10(max(losses))
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.05 * (hi - lo)
        lo, hi = lo - pad, hi + pad

        def sx(s):
            return plot.left() + (s - s0) / (s1 - s0) * plot.width()

        def sy(v):
            return plot.bottom() - (math.log10(v) - lo) / (hi - lo) * plot.height()

        p.setPen(text)
        self._tick_labels(p, plot, f"{10 ** hi:.0e}", f"{10 ** lo:.0e}", f"{s0}", f"step {s1}")
        p.setClipRect(plot)
        pts = self.train
        stride = max(1, len(pts) // max(1, int(plot.width())))
        poly = QPolygonF([QPointF(sx(s), sy(v)) for s, v in pts[::stride] if v > 0])
        p.setPen(QPen(colours["train"], 1.5))
        p.drawPolyline(poly)
        p.setPen(QPen(colours["val"], 2))
        vpts = [QPointF(sx(s), sy(v)) for s, v in self.val if v > 0]
        p.drawPolyline(QPolygonF(vpts))
        for q in vpts:
            p.drawEllipse(q, 2.5, 2.5)
        if self.psnr:
            vals = [v for _, v in self.psnr]
            a, b = min(vals), max(vals)
            if b - a < 1e-6:
                a, b = a - 0.5, b + 0.5
            ppts = [QPointF(sx(s), plot.bottom() - (v - a) / (b - a) * plot.height())
                    for s, v in self.psnr]
            p.setPen(QPen(colours["psnr"], 2))
            p.drawPolyline(QPolygonF(ppts))
            p.setClipping(False)
            p.drawText(QPointF(plot.right() + 3, plot.top() + th * 0.8), f"{b:.1f} dB")
            p.drawText(QPointF(plot.right() + 3, plot.bottom()), f"{a:.1f} dB")


# -- the worker --------------------------------------------------------------------------------

@dataclass
class _PreviewRequest:
    plane: np.ndarray
    axes: str          # "YX" or "YXC"
    props: dict        # layer properties of the preview layer


@dataclass
class _TrainJob:
    layer: Image
    layer_name: str
    data: Any                      # the layer's array (converted in the worker)
    options: dict                  # Noise2NoiseTrainer keyword arguments
    trainer: Any = None            # built in the worker, or the one resumed
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    request: _PreviewRequest | None = None   # a preview asked for, not yet made
    last_request: _PreviewRequest | None = None  # for the final preview
    resumed: bool = False
    pbar: Any = None
    t0: float = field(default_factory=time.perf_counter)

    def ask_preview(self, req: _PreviewRequest):
        with self.lock:
            self.request = req
            self.last_request = req

    def take_preview(self) -> _PreviewRequest | None:
        with self.lock:
            req, self.request = self.request, None
            return req


def _move_trainer(trainer, device) -> None:
    """Move a trainer's network and optimiser state to ``device`` (GPU memory is given
    back between runs; Resume moves them back)."""
    import torch

    trainer.model.to(device)
    for state in trainer.opt.state.values():
        for k, v in list(state.items()):
            if torch.is_tensor(v) and k != "step":
                state[k] = v.to(device)


def _release_gpu(trainer) -> None:
    torch = sys.modules.get("torch")
    if torch is None or trainer is None:
        return
    dev = getattr(trainer, "device", None)
    if dev is None or dev.type not in ("cuda", "mps"):
        return
    try:
        _move_trainer(trainer, "cpu")
        if dev.type == "cuda" and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        elif dev.type == "mps":
            torch.mps.empty_cache()
    except Exception as exc:  # noqa: BLE001 - freeing memory must not fail the run
        logger.debug("could not release GPU memory: %s", exc)


def _make_preview(trainer, req: _PreviewRequest, cache: dict, model=None):
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
            "best_step": trainer.best_step}


def _train_worker(job: _TrainJob, min_interval: float = 0.1):
    """Build (or take) the trainer and run it; yield dicts with ``info`` (the trainer's
    progress dict), ``points`` (new (step, loss) pairs), ``history`` (new validation
    records) and ``preview`` (None or a denoised slice); return the TrainedModel."""
    try:
        if job.trainer is None:
            from ..core.training.n2n import Noise2NoiseTrainer

            job.trainer = Noise2NoiseTrainer(np.asarray(job.data), **job.options)
        else:
            _move_trainer(job.trainer, job.trainer.device)
    except RuntimeError as exc:
        raise WorkerRuntimeError(exc) from exc
    trainer = job.trainer
    seen = len(trainer.history)
    gen = trainer.run(stop=job.stop.is_set)
    points: list[tuple[int, float]] = []
    cache: dict = {}
    last = -math.inf
    last_step = None
    try:
        while True:
            try:
                info = next(gen)
            except StopIteration as done:
                result = done.value
                break
            except RuntimeError as exc:
                raise WorkerRuntimeError(exc) from exc
            if info["loss"] is not None and info["step"] != last_step:
                points.append((info["step"], info["loss"]))
                last_step = info["step"]
            new = [dict(h) for h in trainer.history[seen:]]
            seen = len(trainer.history)
            req = job.take_preview()
            preview = _make_preview(trainer, req, cache) if req is not None else None
            if preview is False:
                preview = None
            now = time.perf_counter()
            if (new or preview is not None or info["phase"] in ("start", "done")
                    or job.stop.is_set() or now - last >= min_interval):
                last = now
                yield {"info": info, "points": points, "history": new, "preview": preview}
                points = []
        # the final preview, with the model that is returned
        req = job.take_preview() or job.last_request
        if req is not None and result is not None:
            preview = _make_preview(trainer, req, cache, model=result)
            if preview is not False:
                yield {"info": info, "points": points, "history": [], "preview": preview}
        return result
    except RuntimeError as exc:
        raise WorkerRuntimeError(exc) from exc
    finally:
        gen.close()
        _release_gpu(trainer)


# -- helpers (main thread) ----------------------------------------------------------------------

def _stack_axis_choices(layer: Image | None) -> list[tuple[str, int]]:
    """(label, index) of the non-spatial axes of a layer, the likely stack axis first."""
    if layer is None or layer.multiscale:
        return []
    data = layer.data
    shape = tuple(data.shape)
    axes = layer_axes(layer)
    if len(axes) != len(shape):
        axes = ""
    labels = list(layer.axis_labels) + ["C"] * (len(shape) - len(layer.axis_labels))
    out = []
    for i, n in enumerate(shape):
        letter = axes[i] if axes else None
        if letter in ("Y", "X") or (not axes and i >= len(shape) - (3 if layer.rgb else 2)):
            continue
        name = letter or f"axis {i}"
        lab = str(labels[i])
        if lab == str(i - layer.ndim):  # napari's default labels: -3, -2, -1
            lab = ""
        desc = f"{name} ({n} {'frame' if n == 1 else 'frames'}"
        desc += f", '{lab}')" if lab and lab.upper() != name.upper() else ")"
        out.append((desc, i, letter))
    pref = {"T": 0, "Z": 1}
    out.sort(key=lambda t: (pref.get(t[2], 2 if t[2] != "C" else 3), t[1]))
    return [(d, i) for d, i, _ in out]


def _current_plane(viewer, layer: Image, max_pixels: int = 1024 * 1024):
    """(plane copy, plane axes, preview layer properties) of the slice shown; the
    visible region (plus a margin) of big slices."""
    lnd = layer.ndim
    wnd = viewer.dims.ndim
    disp = [d - (wnd - lnd) for d in viewer.dims.displayed[-2:]]
    if len(disp) < 2 or min(disp) < 0:
        disp = [lnd - 2, lnd - 1]
    shape = layer.data.shape
    pos = layer.world_to_data(viewer.dims.point)
    index: list[Any] = []
    for k in range(lnd):
        index.append(slice(None) if k in disp else
                     int(np.clip(np.round(pos[k]), 0, shape[k] - 1)))
    if shape[disp[0]] * shape[disp[1]] > max_pixels:
        corners = np.asarray(layer.corner_pixels)
        for k in disp:
            lo, hi = int(corners[0, k]), int(corners[1, k]) + 1
            if hi - lo >= 16 and (lo > 0 or hi < shape[k]):
                index[k] = slice(max(0, lo - 32), min(shape[k], hi + 32))
    plane = np.array(layer.data[tuple(index)], copy=True)
    if disp[0] > disp[1]:
        plane = np.swapaxes(plane, 0, 1)
    start = [index[k].start or 0 for k in disp]
    scale = [layer.scale[k] for k in disp]
    props = dict(scale=tuple(scale),
                 translate=tuple(layer.translate[k] + s * sc
                                 for k, s, sc in zip(disp, start, scale)),
                 contrast_limits=tuple(layer.contrast_limits), rgb=bool(layer.rgb),
                 blending=layer.blending)
    if not layer.rgb:
        props["colormap"] = layer.colormap
    return plane, ("YXC" if layer.rgb else "YX"), props


# -- the widget --------------------------------------------------------------------------------

class TrainWidget(Container):
    """Train a denoiser on your own noisy data (Noise2Noise, Neighbor2Neighbor,
    Noise2Void): no clean images needed."""

    #: seconds of training between two previews of the slice shown
    preview_interval = 5.0
    #: slices with more pixels than this are previewed on their visible region only
    preview_max_pixels = 1024 * 1024

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self.worker = None            # the current (or last) training worker
        self.trainer = None           # the trainer of the last training (for Resume)
        self.trained = None           # the last TrainedModel (best validation loss)
        self.saved_path: Path | None = None
        self.last_info: dict | None = None   # the trainer's latest progress dict
        self.history: list[dict] = []        # validation records of the current training
        self._job: _TrainJob | None = None
        self._train_layer: Image | None = None
        self._auto_name = ""
        self._axis_for = None  # the layer whose axes the axis control lists

        # data
        self.data_layer = ComboBox(name="data_layer", label="Noisy data",
                                   choices=self._image_choices,
                                   tooltip="The noisy image or stack to train on")
        self.pairs = ComboBox(name="pairs", label="Pairs", choices=PAIRS, value="neighbors",
                              tooltip="How training pairs are made from your noisy data")
        self.pairs_info = Label(name="pairs_info", label=" ")
        self.target_layer = ComboBox(name="target_layer", label="Second capture",
                                     choices=self._other_choices, nullable=True,
                                     tooltip="A second capture of the same scene, same shape")
        self.axis = ComboBox(name="axis", label="Stack axis", choices=self._axis_choices,
                             tooltip="The axis whose frames (or slices) are paired")
        self.distance = ComboBox(name="distance", label="Neighbours", choices=DISTANCES,
                                 value=1, tooltip="1: adjacent frames only (moving samples, "
                                 "Z stacks); any: every two frames (a still sample)")
        self.reference_layer = ComboBox(
            name="reference_layer", label="Reference (clean)", choices=self._other_choices,
            nullable=True, value=None,
            tooltip="Optional clean data (same shape, or one 2-D image): adds the "
                    "validation PSNR to the plot")
        # network
        self.model = ComboBox(name="model", label="Network", choices=ARCHS, value="unet")
        self.size = ComboBox(name="size", label="Size", choices=SIZES, value="standard",
                             tooltip="Network width/depth: bigger learns more, trains slower")
        self.init = ComboBox(name="init", label="Start from", choices=self._init_choices,
                             tooltip="Random weights, or fine-tune a pretrained or saved "
                                     "blind network")
        # optimisation
        self.patch = SpinBox(name="patch", label="Patch size", min=16, max=512, step=8,
                             value=64, tooltip="Side in pixels of the training crops")
        self.batch = SpinBox(name="batch", label="Batch size", min=1, max=256, value=8)
        self.lr = FloatSpinBox(name="lr", label="Learning rate (0 = default)", min=0.0,
                               max=0.1, step=1e-5, value=0.0,
                               tooltip="Peak learning rate; default 1e-3 (2e-4 when "
                                       "fine-tuning)")
        self.loss = ComboBox(name="loss", label="Loss", choices=LOSSES, value="l2",
                             tooltip="l2: the Noise2Noise choice; l1 / charbonnier: robust "
                                     "to outliers")
        self.minutes = FloatSpinBox(name="minutes", label="Minutes (0 = no limit)", min=0.0,
                                    max=10000.0, step=0.5, value=5.0)
        self.steps = SpinBox(name="steps", label="Steps (0 = by time)", min=0, max=10_000_000,
                             step=100, value=0,
                             tooltip="Training steps; with minutes too, whichever ends "
                                     "first. Both 0: 2000 steps (400 when fine-tuning)")
        self.device = ComboBox(name="device", label="Device",
                               choices=DenoiseWidget._device_choices())
        # actions
        self.train_button = PushButton(name="train_button", text="Train")
        self.stop_button = PushButton(name="stop_button", text="Stop", enabled=False)
        self.resume_button = PushButton(
            name="resume_button", text="Resume", enabled=False,
            tooltip="Continue the last training (same network, optimiser and history) to "
                    "the end of its schedule; a finished one goes on for 'Steps' more "
                    "steps, else for 'Minutes'")
        self.buttons = Container(name="buttons", label=" ", layout="horizontal", labels=False,
                                 widgets=[self.train_button, self.stop_button,
                                          self.resume_button])
        self.buttons.margins = (0, 0, 0, 0)
        self.progress_bar = ProgressBar(name="progress_bar", label="Progress", min=0,
                                        max=1000, value=0)
        self.status = Label(name="status", label=" ")
        self.plot = LossPlot()
        self.plot_box = Container(name="plot_box", label="Loss", labels=False)
        self.plot_box.margins = (0, 0, 0, 0)
        self.plot_box.native.layout().addWidget(self.plot)
        # result
        self.model_name = LineEdit(name="model_name", label="Model name",
                                   tooltip="Saved as <name>.safetensors in your models folder")
        self.save_button = PushButton(name="save_button", text="Save", enabled=False)
        self.use_button = PushButton(name="use_button", text="Use in Denoise", enabled=False)
        self.result_buttons = Container(name="result_buttons", label=" ", layout="horizontal",
                                        labels=False,
                                        widgets=[self.save_button, self.use_button])
        self.result_buttons.margins = (0, 0, 0, 0)

        self.extend([
            self.data_layer, self.pairs, self.pairs_info, self.target_layer, self.axis,
            self.distance, self.reference_layer, self.model, self.size, self.init,
            self.patch, self.batch, self.lr, self.loss, self.minutes, self.steps, self.device,
            self.buttons, self.progress_bar, self.status, self.plot_box, self.model_name,
            self.result_buttons,
        ])
        for lab in (self.pairs_info, self.status):
            lab.native.setWordWrap(True)
            lab.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

        self._preview_timer = QTimer(self.native)
        self._preview_timer.timeout.connect(self._request_preview)

        # wiring
        self.data_layer.changed.connect(self._on_data_changed)
        self.pairs.changed.connect(self._on_pairs_changed)
        self.init.changed.connect(self._on_init_changed)
        self.train_button.changed.connect(self.train)
        self.stop_button.changed.connect(self.stop)
        self.resume_button.changed.connect(self.resume)
        self.save_button.changed.connect(self.save)
        self.use_button.changed.connect(self.use_in_denoise)
        ev = self._viewer.layers.events
        for e in (ev.inserted, ev.removed, ev.reordered, ev.renamed):
            e.connect(self._refresh_layers)
        self._viewer.layers.selection.events.active.connect(self._on_active_layer)
        self.native.destroyed.connect(self._on_destroyed)

        self._on_active_layer()
        self._on_data_changed()
        self._on_pairs_changed()
        self._on_init_changed()

    # -- choices ---------------------------------------------------------------------------

    def _image_choices(self, widget=None):
        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, Image)]

    def _other_choices(self, widget=None):
        current = getattr(self, "data_layer", None)
        current = current.value if current is not None else None
        return [(layer.name, layer) for layer in self._viewer.layers
                if isinstance(layer, Image) and layer is not current]

    def _axis_choices(self, widget=None):
        dl = getattr(self, "data_layer", None)
        return _stack_axis_choices(dl.value if dl is not None else None)

    def _init_choices(self, widget=None):
        out = [("none (random weights)", _NO_INIT)]
        for e in available_models():
            card = e.get("card") or {}
            if e["kind"] not in ("pretrained", "user") or card.get("arch") not in ARCH_ARGS:
                continue
            if int(card.get("dims", 2)) != 2 or int(card.get("channels", 1)) != 1:
                continue
            kind = "pretrained" if e["kind"] == "pretrained" else "yours"
            out.append((f"{e['name']} ({kind}, {card['arch']})", model_key(e)))
        return out

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

    # -- reactions ---------------------------------------------------------------------------

    def _on_data_changed(self, value=None):
        layer = self.data_layer.value
        for w in (self.target_layer, self.reference_layer):
            w.reset_choices()
        current = self.axis.value
        self.axis.reset_choices()
        if self.axis.choices and (layer is not self._axis_for or current is None
                                  or current not in self.axis.choices):
            self.axis.value = self.axis.choices[0]  # the likely stack axis
        self._axis_for = layer
        name = f"n2n_{layer.name}" if layer is not None else ""
        if self.model_name.value in ("", self._auto_name):
            self.model_name.value = name
        self._auto_name = name

    def _on_pairs_changed(self, value=None):
        kind = self.pairs.value
        self.pairs_info.value = PAIR_HELP.get(kind, "")
        self.target_layer.visible = kind == "two"
        self.axis.visible = kind == "neighbors"
        self.distance.visible = kind == "neighbors"

    def _on_init_changed(self, value=None):
        fine_tune = self.init.value not in (None, _NO_INIT)
        self.model.enabled = not fine_tune
        self.size.enabled = not fine_tune

    # -- state --------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._job is not None

    def _set_running(self, running: bool):
        try:
            self.train_button.enabled = not running
            self.resume_button.enabled = not running and self.trainer is not None
            self.stop_button.enabled = running
            self.save_button.enabled = not running and self.trained is not None
            self.use_button.enabled = not running and self.trained is not None
        except RuntimeError:  # the widget was deleted meanwhile
            pass

    # -- train / stop / resume ----------------------------------------------------------

    def _options(self, layer: Image) -> dict:
        """Trainer options from the controls; DenoiseError for settings that cannot work."""
        data = layer.data
        shape = tuple(data.shape)
        kind = self.pairs.value
        axes = layer_axes(layer)
        if len(axes) != len(shape):
            axes = ""
        opts: dict[str, Any] = dict(pairs=kind, axes=axes or None, loss=self.loss.value,
                                    patch=int(self.patch.value), batch=int(self.batch.value),
                                    device=self.device.value or "auto")
        if kind == "neighbors":
            choices = _stack_axis_choices(layer)
            if not choices:
                raise DenoiseError(
                    f"'{layer.name}' is a single image (shape {shape}): neighbouring-frame "
                    f"pairs need a stack. Use 'subsample' (Neighbor2Neighbor) or 'blind "
                    f"spot' (Noise2Void) pairs for single images, or 'two captures'")
            axis = self.axis.value if self.axis.value is not None else choices[0][1]
            if shape[axis] < 2:
                raise DenoiseError(
                    f"'{layer.name}' has only one frame along the stack axis (shape "
                    f"{shape}): neighbouring-frame pairs need at least two. Use 'subsample' "
                    f"(Neighbor2Neighbor) or 'blind spot' (Noise2Void) pairs for a single "
                    f"image")
            opts["axis"] = int(axis)
            opts["distance"] = self.distance.value
        elif kind == "two":
            target = self.target_layer.value
            if target is None:
                raise DenoiseError("choose the second capture of the same scene "
                                   "('Second capture'), or another kind of pairs")
            if tuple(target.data.shape) != shape:
                raise DenoiseError(f"the second capture '{target.name}' has shape "
                                   f"{tuple(target.data.shape)}, the data {shape}: they "
                                   f"must match")
            opts["target"] = target.data
        ref = self.reference_layer.value
        if ref is not None:
            rshape = tuple(ref.data.shape)
            if rshape != shape and rshape != shape[-3 if layer.rgb else -2:]:
                raise DenoiseError(f"the reference '{ref.name}' has shape {rshape}: it must "
                                   f"have the data's shape {shape} or be one image of it")
            opts["reference"] = ref.data
        init = self.init.value
        if init not in (None, _NO_INIT):
            opts["init"] = init
        else:
            arch = self.model.value
            opts["model"] = arch
            args = ARCH_ARGS.get(arch, {}).get(self.size.value)
            if args:
                opts["arch_args"] = dict(args)
        if float(self.lr.value) > 0:
            opts["lr"] = float(self.lr.value)
        if int(self.steps.value) > 0:
            opts["steps"] = int(self.steps.value)
        if float(self.minutes.value) > 0:
            opts["minutes"] = float(self.minutes.value)
        opts["name"] = self.model_name.value.strip() or f"n2n_{layer.name}"
        return opts

    def _check_layer(self) -> Image:
        layer = self.data_layer.value
        if layer is None:
            raise DenoiseError("add or choose an image layer with your noisy data")
        if layer.multiscale:
            raise DenoiseError(f"'{layer.name}' is a multiscale (pyramid) layer; train on "
                               "its full-resolution array from Python "
                               "(napari_denoise.train_noise2noise)")
        data = layer.data
        if np.dtype(data.dtype).kind not in "uif":
            raise DenoiseError(f"'{layer.name}' has data type {data.dtype}; use an integer "
                               "or floating-point image")
        if int(np.prod(data.shape)) == 0:
            raise DenoiseError(f"'{layer.name}' is empty (shape {tuple(data.shape)})")
        return layer

    def train(self, value=None):
        """Start a new training on the chosen layer (in a worker); returns the worker."""
        if self._job is not None:
            return None
        try:
            layer = self._check_layer()
            opts = self._options(layer)
        except (DenoiseError, AxesError, ValueError) as exc:
            _notify_error(str(exc))
            return None
        # a new training replaces the previous trainer (its model stays until replaced)
        old, self.trainer = self.trainer, None
        if old is not None:
            _release_gpu(old)
        self.history = []
        self.last_info = None
        self.plot.clear()
        job = _TrainJob(layer=layer, layer_name=layer.name, data=layer.data, options=opts)
        return self._start(job, f"Training on {layer.name}")

    def resume(self, value=None):
        """Continue the last training (same trainer: weights, optimiser, history)."""
        if self._job is not None:
            return None
        trainer = self.trainer
        if trainer is None:
            _notify_error("nothing to resume: train a model first")
            return None
        steps = int(self.steps.value)
        minutes = float(self.minutes.value)
        # the time budget / steps of this run; a finished schedule is extended
        trainer.minutes = minutes if minutes > 0 else None
        if trainer.total is not None and trainer.step >= trainer.total:
            if steps > 0:
                trainer.total = trainer.step + steps
            elif minutes > 0:
                trainer.total = None  # sized to the minutes on the first steps
            else:
                trainer.total = trainer.step + max(100, trainer.step)
        layer = self._train_layer
        job = _TrainJob(layer=layer, layer_name=layer.name if layer is not None else "data",
                        data=None, options={}, trainer=trainer, resumed=True)
        return self._start(job, f"Training on {job.layer_name} (resumed)")

    def stop(self, value=None):
        """End training at the next step; the best model so far is kept."""
        job = self._job
        if job is None:
            return
        job.stop.set()
        self.status.value = "Stopping after the current step..."

    def _start(self, job: _TrainJob, desc: str):
        self._job = job
        self._train_layer = job.layer
        worker = create_worker(
            _train_worker, job, _start_thread=False,
            _connect={"yielded": self._on_yielded, "returned": self._on_returned,
                      "errored": self._on_errored, "finished": self._on_finished},
        )
        self.worker = worker
        job.pbar = napari_progress(total=0, desc=desc)
        self.progress_bar.value = 0
        self.status.value = "Resuming..." if job.resumed else "Preparing the data and network..."
        self._set_running(True)
        # the slice shown now serves the final preview if no other is asked for
        self._request_preview(initial=True)
        self._preview_timer.start(max(50, int(1000 * self.preview_interval)))
        # started from the event loop, so callers can connect to the worker's signals first
        QTimer.singleShot(0, worker.start)
        return worker

    def _request_preview(self, initial: bool = False):
        job = self._job
        if job is None or job.layer is None or job.layer not in self._viewer.layers:
            return
        try:
            plane, axes, props = _current_plane(self._viewer, job.layer,
                                                self.preview_max_pixels)
        except Exception as exc:  # noqa: BLE001 - a preview must never stop training
            logger.debug("no preview: %s", exc)
            return
        if min(plane.shape[:2]) < 8:
            return
        req = _PreviewRequest(plane, axes, props)
        if initial:
            with job.lock:
                job.last_request = req
        else:
            job.ask_preview(req)

    # -- worker callbacks (main thread) ----------------------------------------------------

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
        pb = job.pbar
        if pb is not None:
            if total and pb.total != total:
                pb.total = total
                pb.n = 0
            if total and step > pb.n:
                pb.update(step - pb.n)
        if msg.get("preview") is not None:
            self._show_preview(job, msg["preview"])

    def _show_preview(self, job: _TrainJob, preview: dict):
        if job.layer is None or job.layer not in self._viewer.layers:
            return
        name = f"{job.layer.name}_n2n_preview"
        data = preview["image"]
        props = dict(preview["props"])
        meta = {"napari_denoise": {"preview": True, "n2n": True, "step": preview["step"],
                                   "best_step": preview["best_step"]}}
        layers = self._viewer.layers
        out = layers[name] if name in layers else None
        if isinstance(out, Image) and out.rgb == props["rgb"] and out.data.ndim == data.ndim:
            out.data = data
            out.scale = props["scale"]
            out.translate = props["translate"]
            out.metadata.clear()
            out.metadata.update(meta)
            return
        if out is not None:
            layers.remove(out)
        self._viewer.add_image(data, name=name, metadata=meta, **props)

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
            text += f"; kept the best model (step {best}, validation loss " \
                    f"{result.card['metrics'].get('val_loss'):.4g})"
        self.status.value = text + ". Save it, or use it in Denoise."
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
        self._set_running(False)

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
        dw = open_denoise_widget(self._viewer, _notify_error)
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

    def _on_destroyed(self, *args):
        job = self._job
        if job is not None:
            job.stop.set()


def _notify_error(msg: str) -> None:
    """Errors reach the user as a napari notification, never a traceback."""
    show_error(msg)


def _notify_info(msg: str) -> None:
    show_info(msg)


__all__ = ["LossPlot", "TrainWidget"]
