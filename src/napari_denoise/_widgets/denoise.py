"""The Denoise dock widget.

A thin layer of controls over :func:`napari_denoise.denoise_iter`: the work runs
in a napari thread worker that yields the engine's :class:`Progress` objects;
layers are only read or written on the main thread (before the worker starts,
and in the ``yielded`` / ``returned`` callbacks).
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSlider,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    RadioButtons,
    SpinBox,
)
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import QTimer

from .. import denoise_iter
from ..core.axes import AxesError, guess_axes, normalize_axes
from ..core.inference import MIN_SIDE, DenoiseError
from ..core.normalise import estimate_range

if TYPE_CHECKING:  # pragma: no cover
    import napari

logger = logging.getLogger(__name__)

KIND_LABELS = {"pretrained": "Pretrained", "classical": "Classical", "user": "Your models"}
_KIND_ORDER = ("pretrained", "classical", "user")
MODES = [("2D slice by slice", "2d"), ("3D volume", "3d")]
NOISE_MODES = ["auto", "manual", "map"]
NOISE_MODELS = ["auto", "gaussian", "poisson-gaussian", "rician"]
# axis_labels words understood when guessing the axes of a layer
_AXIS_WORDS = {
    "T": "T", "TIME": "T", "FRAME": "T", "FRAMES": "T", "Q": "T",
    "Z": "Z", "DEPTH": "Z", "PLANE": "Z", "SLICE": "Z",
    "C": "C", "CH": "C", "CHANNEL": "C", "CHANNELS": "C", "S": "C",
    "Y": "Y", "ROW": "Y", "ROWS": "Y",
    "X": "X", "COL": "X", "COLUMN": "X", "COLUMNS": "X",
}


# -- helpers that only read (no napari state is changed) -------------------------

def available_models() -> list[dict]:
    """:func:`napari_denoise.list_models`, or as much of it as can be listed.

    Pieces of the core may be missing (e.g. while a module is being developed);
    each source of models is then listed on its own so the others stay usable.
    """
    try:
        from .. import list_models

        return list_models()
    except Exception as exc:  # noqa: BLE001 - fall back to the sources one by one
        logger.debug("list_models() failed (%s); listing sources one by one", exc)
    out: list[dict] = []
    try:
        from ..core.registry import pretrained_entries

        for name, e in sorted(pretrained_entries().items()):
            out.append({"name": name, "kind": "pretrained", "description": e.description,
                        "card": e.card, "path": str(e.path)})
    except Exception as exc:  # noqa: BLE001
        logger.debug("no pretrained models: %s", exc)
    try:
        from ..core.classical import CLASSICAL

        for name, c in CLASSICAL.items():
            out.append({"name": name, "kind": "classical",
                        "description": getattr(c, "description", ""), "card": {}, "path": None})
    except Exception as exc:  # noqa: BLE001
        logger.debug("no classical methods: %s", exc)
    try:
        from ..core.models import user_model_paths
        from ..core.weights import read_card

        for name, p in user_model_paths().items():
            try:
                card = read_card(p)
            except Exception as exc:  # noqa: BLE001
                card = {"error": str(exc)}
            out.append({"name": name, "kind": "user", "description": card.get("description", ""),
                        "card": card, "path": str(p)})
    except Exception as exc:  # noqa: BLE001
        logger.debug("no user models: %s", exc)
    return out


def model_key(entry: dict) -> str:
    """What is passed to the engine as ``model``: a name, or the path of a user model."""
    return entry["path"] if entry["kind"] == "user" and entry.get("path") else entry["name"]


def model_dims(entry: dict) -> tuple[int, ...]:
    """Spatial dims a model runs on, as far as can be told without loading it."""
    if entry["kind"] == "classical":
        try:
            from ..core.classical import CLASSICAL

            return tuple(CLASSICAL[entry["name"]].dims)
        except Exception:  # noqa: BLE001
            return (2, 3)
    dims = (entry.get("card") or {}).get("dims")
    return (int(dims),) if isinstance(dims, int) else (2,)


def model_is_blind(entry: dict) -> bool:
    """True for networks that ignore the noise level (DnCNN, U-Net)."""
    if entry["kind"] == "classical":
        return False
    arch = str((entry.get("card") or {}).get("arch", "")).lower()
    return bool(arch) and arch != "ffdnet"


def format_card(entry: dict) -> str:
    """A model card as plain text (without its pointers into the source repository)."""
    from ..core.weights import card_for_display

    card = card_for_display(dict(entry.get("card") or {}))
    kind = KIND_LABELS.get(entry["kind"], entry["kind"])
    lines = [f"{entry['name']}  ({kind})", ""]
    if entry.get("description"):
        lines += [entry["description"], ""]
    if entry["kind"] == "classical":
        lines.append("Classical method: no training data, works on any noise level you set.")
        return "\n".join(lines)
    if "error" in card:
        lines.append(f"The model card could not be read: {card['error']}")
        return "\n".join(lines)
    fields = [("Architecture", "arch"), ("Architecture arguments", "arch_args"),
              ("Dimensions", "dims"), ("Channels", "channels"), ("Noise model", "noise_model"),
              ("Noise levels (sigma, 0-255 scale)", "sigma_range"),
              ("Normalisation", "normalisation"), ("Training data", "training_data"),
              ("Parameters", "parameters"),
              ("Licence", "licence"), ("Limitations", "limitations")]
    for title, key in fields:
        if card.get(key) not in (None, "", {}, []):
            lines.append(f"{title}: {card[key]}")
    metrics = card.get("metrics") or {}
    if metrics:
        lines += ["", "Metrics:"]
        for k, v in metrics.items():
            lines.append(f"  {k}: {v}")
    if entry.get("path"):
        lines += ["", f"File: {entry['path']}"]
    return "\n".join(lines)


def layer_axes(layer: Image) -> str:
    """Axes of a layer's data: from its axis labels when they name axes, else guessed."""
    data = layer.data[0] if layer.multiscale else layer.data
    ndim = data.ndim
    labels = [str(a).strip().upper() for a in layer.axis_labels]
    letters = [_AXIS_WORDS.get(a) for a in labels]
    if layer.rgb:
        letters.append("C")
    if len(letters) == ndim and all(letters):
        try:
            return normalize_axes("".join(letters), ndim)
        except AxesError:
            pass
    try:
        return guess_axes(tuple(data.shape), rgb=bool(layer.rgb))
    except AxesError:
        return ""


NOISE_MAP_SUFFIX = " noise map"


def noise_map_for(layer) -> str | None:
    """Name of the layer whose noise map ``layer`` is, from its metadata
    (``["napari_denoise"]["noise_map_for"]``, set by the Noise map widget), or None."""
    meta = getattr(layer, "metadata", None)
    info = meta.get("napari_denoise") if isinstance(meta, dict) else None
    name = info.get("noise_map_for") if isinstance(info, dict) else None
    return name if isinstance(name, str) else None


def format_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "--"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _estimate_key(layer, axes) -> tuple:
    """What a noise estimate depends on: the layer, its data array and the axes."""
    return (id(layer), id(layer.data), axes)


def _estimate_sigma(data, axes: str) -> float:
    from ..core.normalise import sample_planes
    from ..core.noise import estimate_noise

    return float(estimate_noise(sample_planes(data, axes), axes=axes).sigma)


def _value_range(layer: Image, data) -> tuple[float, float]:
    """(lo, hi) of the data the way the engine normalises them (robust percentiles);
    napari's contrast-limits range when the engine cannot tell (NaN or infinite values,
    which the engine refuses anyway)."""
    try:
        lo, hi = estimate_range(data)
    except DenoiseError:
        lo, hi = (float(v) for v in layer.contrast_limits_range)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo, hi = 0.0, 1.0
    return lo, hi


class WorkerRuntimeError(Exception):
    """A RuntimeError raised while denoising (superqt's generator worker would swallow
    a RuntimeError as a mere warning, so it travels wrapped in this)."""

    def __init__(self, original: RuntimeError):
        super().__init__(str(original))
        self.original = original


def _drive(gen, cancel: threading.Event, min_interval: float = 0.05):
    """Run the engine's generator in the worker; yield its Progress at most every
    ``min_interval`` s (and at once when cancel was asked, so the worker stops at the
    next tile); return its DenoiseResult."""
    last = -math.inf
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        except RuntimeError as exc:
            raise WorkerRuntimeError(exc) from exc
        now = time.perf_counter()
        if cancel.is_set() or now - last >= min_interval or p.done >= p.total:
            last = now
            yield p


def _layer_props(layer: Image) -> dict:
    """Everything an output layer copies from its input (read on the main thread)."""
    props = dict(
        scale=tuple(layer.scale), translate=tuple(layer.translate),
        rotate=np.array(layer.rotate), shear=np.array(layer.shear),
        affine=layer.affine.affine_matrix.copy(),
        units=tuple(layer.units), axis_labels=tuple(layer.axis_labels),
        metadata=dict(layer.metadata), contrast_limits=tuple(layer.contrast_limits),
        rgb=bool(layer.rgb), blending=layer.blending, gamma=layer.gamma,
    )
    if not layer.rgb:
        props["colormap"] = layer.colormap
    return props


@dataclass
class _Job:
    kind: str                 # "run" or "preview"
    layer: Image
    layer_name: str
    out_name: str
    props: dict
    device: str
    gen: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    pbar: Any = None
    t0: float = field(default_factory=time.perf_counter)


class DenoiseWidget(Container):
    """Denoise an image layer with a pretrained network, a classical method or your model."""

    #: slices with more pixels than this are previewed on their visible region only
    preview_max_pixels = 1024 * 1024
    #: layers with more elements than this get their noise estimated in a worker
    #: (about 0.2 s for 512x512 on one core)
    sync_estimate_max = 512 * 512
    _STRENGTH_TIP = ("Multiplies the noise level: above 1 denoises more strongly, below 1 "
                     "more gently")
    _STRENGTH_MAP_TIP = ("In map mode the map's values are used as they are: the Noise map "
                         "widget already multiplies its map by its own strength")

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self.worker = None           # the current (or last) run / preview worker
        self.estimate_worker = None  # the current noise-estimation worker, if any
        self._job: _Job | None = None
        self._models: dict[str, dict] = {}
        # (key, sigma) of the last estimate; key = (layer id, data id, axes)
        self._sigma_estimate: tuple[tuple, float] | None = None
        self._estimating: tuple | None = None
        self._watched = None  # the input layer whose data changes are followed
        self._card_dialog = None

        # input
        self.image_layer = ComboBox(name="image_layer", label="Image",
                                    choices=self._image_layer_choices,
                                    tooltip="The image layer to denoise (never modified)")
        # method
        self.method = ComboBox(name="method", label="Method", choices=self._method_choices,
                               tooltip="Pretrained networks, classical methods and your own "
                                       "trained models")
        self.method_info = Label(name="method_info", label=" ")
        self.card_button = PushButton(name="card_button", text="Model card")
        # noise level
        self.noise_mode = RadioButtons(name="noise_mode", label="Noise level",
                                       choices=NOISE_MODES, value="auto",
                                       orientation="horizontal",
                                       tooltip="auto: estimated from the image; manual: set "
                                               "sigma in the data's units; map: a layer "
                                               "with the noise level of every pixel")
        self.sigma_info = Label(name="sigma_info", label=" ")
        self.sigma_slider = FloatSlider(name="sigma_slider", min=0.0, max=1.0, value=0.05,
                                        readout=False)
        self.sigma_value = FloatSpinBox(name="sigma_value", min=0.0, max=1.0, value=0.05,
                                        step=0.001)
        self.sigma_row = Container(name="sigma_row", label="Sigma", layout="horizontal",
                                   labels=False, widgets=[self.sigma_slider, self.sigma_value])
        self.sigma_row.margins = (0, 0, 0, 0)
        self.noise_map = ComboBox(name="noise_map", label="Noise map",
                                  choices=self._noise_map_choices,
                                  tooltip="Image layer holding the noise sigma of every pixel, "
                                          "in the data's units, same shape as the image (the "
                                          "Noise map widget's map for the input is chosen "
                                          "when there is one)")
        self.noise_model = ComboBox(name="noise_model", label="Noise model",
                                    choices=NOISE_MODELS, value="auto",
                                    tooltip="auto: Poisson-Gaussian when the noise clearly grows "
                                            "with the signal, else Gaussian; poisson-gaussian: "
                                            "shot plus read noise (fitted when denoising); "
                                            "rician: magnitude MRI (sigma from the background, "
                                            "bias corrected). With a manual sigma the noise is "
                                            "Gaussian (Rician: bias corrected); a map is used "
                                            "as it is")
        self.strength = FloatSpinBox(name="strength", label="Strength", min=0.1, max=5.0,
                                     step=0.1, value=1.0,
                                     tooltip=self._STRENGTH_TIP)
        self.destripe = CheckBox(name="destripe", text="Remove stripes", value=False,
                                 tooltip="Remove horizontal/vertical stripes (e.g. light-sheet "
                                         "shadows, detector banding) before denoising")
        # processing
        self.axes = LineEdit(name="axes", label="Axes",
                             tooltip="Axes of the data, e.g. YX, ZYX, TYX, YXC, CYX, TZCYX "
                                     "(guessed from the layer; editable)")
        self.processing = ComboBox(name="processing", label="Processing",
                                   choices=self._mode_choices)
        self.device = ComboBox(name="device", label="Device", choices=self._device_choices())
        self.device_info = Label(name="device_info", label=" ")
        self.tile = SpinBox(name="tile", label="Tile (0 = auto)", min=0, max=8192, step=16,
                            value=0,
                            tooltip="Tile side in pixels; 0 picks one from the memory available")
        # actions
        self.preview_button = PushButton(name="preview_button", text="Preview",
                                         tooltip="Denoise the slice shown (visible region of "
                                                 "big images) into <image>_preview")
        self.run_button = PushButton(name="run_button", text="Run")
        self.cancel_button = PushButton(name="cancel_button", text="Cancel", enabled=False)
        self.buttons = Container(name="buttons", label=" ", layout="horizontal", labels=False,
                                 widgets=[self.preview_button, self.run_button,
                                          self.cancel_button])
        self.buttons.margins = (0, 0, 0, 0)
        self.progress_bar = ProgressBar(name="progress_bar", label="Progress", min=0, max=1000,
                                        value=0)
        self.status = Label(name="status", label=" ")

        self.extend([
            self.image_layer, self.method, self.method_info, self.card_button,
            self.noise_model, self.noise_mode, self.sigma_info, self.sigma_row, self.noise_map,
            self.strength, self.destripe, self.processing, self.axes, self.device,
            self.device_info, self.tile,
            self.buttons, self.progress_bar, self.status,
        ])
        for lab in (self.method_info, self.sigma_info, self.device_info, self.status):
            lab.native.setWordWrap(True)

        reason = self._gpu_reason()
        if reason:
            self.device_info.value = f"No GPU: {reason}"
            self.device.tooltip = f"No GPU is used: {reason}"
        self.device_info.visible = bool(reason)

        # wiring
        self.image_layer.changed.connect(self._on_layer_changed)
        self.method.changed.connect(self._on_method_changed)
        self.card_button.changed.connect(self.show_model_card)
        self.noise_mode.changed.connect(self._on_noise_mode_changed)
        self.noise_model.changed.connect(self._on_noise_model_changed)
        self.sigma_slider.changed.connect(self._on_slider)
        self.sigma_value.changed.connect(self._on_spin)
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

    # -- choices ----------------------------------------------------------------

    def _image_layer_choices(self, widget=None):
        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, Image)]

    def _noise_map_choices(self, widget=None):
        current = getattr(self, "image_layer", None)
        current = current.value if current is not None else None
        return [(layer.name, layer) for layer in self._viewer.layers
                if isinstance(layer, Image) and layer is not current]

    def _method_choices(self, widget=None):
        entries = sorted(available_models(),
                         key=lambda e: (_KIND_ORDER.index(e["kind"])
                                        if e["kind"] in _KIND_ORDER else 9))
        # the default network first among the pretrained ones
        entries.sort(key=lambda e: (e["kind"] != "pretrained", e["name"] != "ffdnet_gray"))
        self._models = {model_key(e): e for e in entries}
        return [(f"{KIND_LABELS.get(e['kind'], e['kind'])}: {e['name']}", model_key(e))
                for e in entries]

    def _mode_choices(self, widget=None):
        entry = self.current_model()
        dims = model_dims(entry) if entry else (2, 3)
        ax = self._axes_or_none() or ""
        out = []
        if 2 in dims:
            out.append(MODES[0])
        if 3 in dims and ("Z" in ax or 2 not in dims):
            out.append(MODES[1])
        return out or [MODES[0]]

    @staticmethod
    def _device_choices():
        try:
            from ..core.devices import available_devices

            return [(desc, dev) for dev, desc in available_devices()]
        except Exception as exc:  # noqa: BLE001 - torch missing or broken
            logger.warning("could not list devices: %s", exc)
            return [("CPU", "cpu")]

    @staticmethod
    def _gpu_reason() -> str | None:
        try:
            from ..core.devices import gpu_unavailable_reason

            return gpu_unavailable_reason()
        except Exception as exc:  # noqa: BLE001
            return str(exc)

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
        if getattr(self, "noise_mode", None) is not None and self.noise_mode.value == "map":
            return
        self.image_layer.reset_choices()
        if layer in self.image_layer.choices and self.image_layer.value is not layer:
            self.image_layer.value = layer

    def refresh_models(self):
        """Re-list the models (e.g. after training or copying one into the models folder)."""
        self.method.reset_choices()
        self._on_method_changed()

    # -- current settings ----------------------------------------------------------

    def current_model(self) -> dict | None:
        return self._models.get(self.method.value) if self.method.value is not None else None

    def _axes_or_none(self) -> str | None:
        layer = self.image_layer.value
        if layer is None:
            return None
        data = layer.data[0] if layer.multiscale else layer.data
        try:
            return normalize_axes(self.axes.value, data.ndim)
        except AxesError:
            return None

    def _sigma_for(self, layer: Image, axes: str):
        """sigma argument for the engine (data units), from the noise-level controls."""
        mode = self.noise_mode.value
        if mode == "manual":
            return float(self.sigma_value.value)
        if mode == "map":
            m = self.noise_map.value
            if m is None:
                raise DenoiseError("choose a noise-map layer (an image with the noise sigma of "
                                   "every pixel), or set the noise level to auto or manual")
            data = layer.data
            if tuple(m.data.shape) != tuple(data.shape):
                raise DenoiseError(f"the noise map '{m.name}' has shape {tuple(m.data.shape)} "
                                   f"but the image has {tuple(data.shape)}")
            return m.data
        est = self._sigma_estimate
        if est is not None and est[0] == _estimate_key(layer, axes):
            return est[1]
        return "auto"

    # -- reactions -------------------------------------------------------------------

    def _on_layer_changed(self, value=None):
        layer = self.image_layer.value
        self.noise_map.reset_choices()  # any image layer but the input
        self._preselect_noise_map()
        if self._watched is not layer:  # follow the input's data (range, axes, noise)
            if self._watched is not None:
                self._watched.events.data.disconnect(self._on_layer_changed)
            if layer is not None:
                layer.events.data.connect(self._on_layer_changed)
            self._watched = layer
        if layer is None:
            self.axes.value = ""
            self.sigma_info.value = "Add an image layer to denoise."
            return
        axes = layer_axes(layer)
        data = layer.data[0] if layer.multiscale else layer.data
        # the manual range first (in the data's units), then the axes (which may estimate)
        lo, hi = _value_range(layer, data)
        span = hi - lo
        top = 0.5 * span
        cur = float(self.sigma_value.value)
        for w in (self.sigma_slider, self.sigma_value):
            w.min, w.max = 0.0, top
            w.step = span / 1000.0
        if not 0 < cur <= top:
            cur = 0.05 * span
        self.sigma_value.value = cur
        self.sigma_row.tooltip = (f"Noise sigma in the data's units (data range "
                                  f"{lo:.4g} to {hi:.4g})")
        self.axes.value = axes
        self._update_mode_choices()
        if self.noise_mode.value == "auto":
            self.estimate_noise()

    def _on_method_changed(self, value=None):
        entry = self.current_model()
        if entry is None:
            self.method_info.value = ("No denoising method is available: pretrained weights, "
                                      "classical methods and your models are all missing.")
            self.card_button.enabled = False
        else:
            text = entry.get("description") or ""
            if model_is_blind(entry):
                text += "  (blind: the noise level is not needed)"
            self.method_info.value = text.strip()
            self.card_button.enabled = True
        self._update_mode_choices()

    def _update_mode_choices(self):
        self.processing.reset_choices()

    def _on_axes_changed(self, value=None):
        self._update_mode_choices()
        ax = self._axes_or_none()
        self.axes.tooltip = ("Axes of the data, e.g. YX, ZYX, TYX, YXC, CYX, TZCYX" if ax or
                             self.image_layer.value is None else
                             f"'{self.axes.value}' is not valid for this layer's "
                             f"{self.image_layer.value.data.ndim} dimensions")
        if ax and self.noise_mode.value == "auto":
            est = self._sigma_estimate
            if est is None or est[0] != _estimate_key(self.image_layer.value, ax):
                self.estimate_noise()

    def _on_noise_mode_changed(self, value=None):
        mode = self.noise_mode.value
        self.sigma_row.visible = mode == "manual"
        self.noise_map.visible = mode == "map"
        self.sigma_info.visible = mode == "auto"
        # a map is used as it is (the Noise map widget's map includes its strength)
        self.strength.enabled = mode != "map"
        self.strength.tooltip = self._STRENGTH_MAP_TIP if mode == "map" else self._STRENGTH_TIP
        if mode == "map":
            self._preselect_noise_map()
        if mode == "auto":
            self.estimate_noise()

    def _on_noise_model_changed(self, value=None):
        est = self._sigma_estimate
        layer, ax = self.image_layer.value, self._axes_or_none()
        if est is not None and layer is not None and est[0] == _estimate_key(layer, ax):
            self._show_estimate(est[1])

    def _on_slider(self, value):
        if abs(float(self.sigma_value.value) - value) > 1e-12:
            self.sigma_value.value = value

    def _on_spin(self, value):
        if abs(float(self.sigma_slider.value) - value) > 1e-12:
            self.sigma_slider.value = min(max(value, self.sigma_slider.min), self.sigma_slider.max)

    # -- noise estimate --------------------------------------------------------------

    def estimate_noise(self):
        """Estimate the noise level of the chosen layer and show it (auto mode)."""
        layer = self.image_layer.value
        ax = self._axes_or_none()
        if layer is None:
            return
        if ax is None:
            self.sigma_info.value = "Set valid axes to estimate the noise level."
            return
        if layer.multiscale:
            self.sigma_info.value = "Noise estimation is not available for multiscale layers."
            return
        key = _estimate_key(layer, ax)
        est = self._sigma_estimate
        if est is not None and est[0] == key:
            self._show_estimate(est[1])
            return
        data = layer.data
        if isinstance(data, np.ndarray) and data.size <= self.sync_estimate_max:
            try:
                self._estimate_done(key, _estimate_sigma(data, ax))
            except Exception as exc:  # noqa: BLE001
                self._estimate_failed(key, exc)
            return
        if self._estimating == key:
            return
        self._estimating = key
        self.sigma_info.value = "Estimating the noise level..."
        worker = create_worker(_estimate_sigma, data, ax, _start_thread=False,
                               _connect={"returned": lambda s: self._estimate_done(key, s),
                                         "errored": lambda e: self._estimate_failed(key, e)})
        self.estimate_worker = worker
        QTimer.singleShot(0, worker.start)

    def _estimate_done(self, key, sigma: float):
        if self._estimating == key:
            self._estimating = None
        try:
            layer = self.image_layer.value
            if layer is None or key != _estimate_key(layer, self._axes_or_none()):
                return  # stale: the selection or the data changed meanwhile
            self._sigma_estimate = (key, float(sigma))
            self._show_estimate(float(sigma))
            if self.noise_mode.value != "manual":
                self.sigma_value.value = min(float(sigma), self.sigma_value.max)
        except RuntimeError:  # the widget was deleted while the worker ran
            pass

    def _show_estimate(self, sigma: float):
        text = f"Estimated sigma: {sigma:.4g} (data units)"
        model = self.noise_model.value
        if model == "auto":
            text += "; Gaussian or Poisson-Gaussian is decided when denoising"
        elif model != "gaussian":
            text += f"; the {model} noise is estimated when denoising"
        self.sigma_info.value = text

    def _estimate_failed(self, key, exc):
        if self._estimating == key:
            self._estimating = None
        if isinstance(exc, ImportError):
            msg = ("Automatic noise estimation is not available in this version; "
                   "set the noise level manually.")
        else:
            msg = f"Noise estimation failed: {exc}. Set the noise level manually."
        try:
            self.sigma_info.value = msg
        except RuntimeError:  # widget already deleted
            pass

    # -- model card ---------------------------------------------------------------------

    def show_model_card(self, value=None):
        """Show the selected model's card in a read-only window."""
        entry = self.current_model()
        if entry is None:
            return
        from qtpy.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout

        dlg = self._card_dialog
        if dlg is None:
            dlg = QDialog(self.native)
            dlg.setMinimumSize(480, 360)
            lay = QVBoxLayout(dlg)
            text = QPlainTextEdit(dlg)
            text.setReadOnly(True)
            text.setObjectName("card_text")
            lay.addWidget(text)
            box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=dlg)
            box.rejected.connect(dlg.close)
            lay.addWidget(box)
            self._card_dialog = dlg
        dlg.setWindowTitle(f"Model card: {entry['name']}")
        dlg.findChild(QPlainTextEdit, "card_text").setPlainText(format_card(entry))
        dlg.show()
        dlg.raise_()
        return dlg

    # -- run / preview / cancel ----------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._job is not None

    def run(self, value=None):
        """Denoise the whole layer into ``<name>_denoised`` (in a worker)."""
        if self._job is not None:
            return None
        try:
            job, gen = self._prepare_run()
        except (DenoiseError, AxesError) as exc:
            _notify_error(str(exc))
            return None
        return self._start(job, gen)

    def preview(self, value=None):
        """Denoise the slice shown (its visible region for big images) into ``<name>_preview``."""
        if self._job is not None:
            return None
        try:
            job, gen = self._prepare_preview()
        except (DenoiseError, AxesError) as exc:
            _notify_error(str(exc))
            return None
        return self._start(job, gen)

    def cancel(self, value=None):
        """Stop the current run at the next tile; nothing is added."""
        job = self._job
        if job is None or self.worker is None:
            return
        job.cancel.set()
        self.worker.quit()
        self.status.value = "Cancelling..."

    def _common_checks(self) -> tuple[Image, dict, str]:
        layer = self.image_layer.value
        if layer is None:
            raise DenoiseError("choose an image layer to denoise")
        entry = self.current_model()
        if entry is None:
            raise DenoiseError("no denoising method is available (no pretrained weights, "
                               "classical methods or models of yours were found)")
        if layer.multiscale:
            raise DenoiseError(f"'{layer.name}' is a multiscale (pyramid) layer; denoise its "
                               "full-resolution array from Python with napari_denoise.denoise")
        data = layer.data
        shape = tuple(data.shape)
        if int(np.prod(shape)) == 0:
            raise DenoiseError(f"'{layer.name}' is empty (shape {shape})")
        if np.dtype(data.dtype).kind not in "uif":
            raise DenoiseError(f"'{layer.name}' has data type {data.dtype}; use an integer "
                               "or floating-point image")
        if (isinstance(data, np.ndarray) and data.dtype.kind == "f" and data.size <= 2**26
                and not np.isfinite(data).any()):  # (bigger arrays: the engine checks)
            raise DenoiseError(f"'{layer.name}' contains only NaN or infinite values")
        try:
            axes = normalize_axes(self.axes.value, data.ndim)
        except AxesError as exc:
            raise DenoiseError(f"{exc} ('{layer.name}' has shape {shape}); "
                               f"try {layer_axes(layer) or 'other axes'}") from None
        if layer.rgb and not axes.endswith("C"):
            raise DenoiseError(f"'{layer.name}' is RGB: its axes must end with C "
                               f"(e.g. {layer_axes(layer)}), not {axes}")
        ys, xs = shape[axes.index("Y")], shape[axes.index("X")]
        if min(ys, xs) < MIN_SIDE:
            raise DenoiseError(f"'{layer.name}' is too small to denoise: {ys}x{xs} pixels "
                               f"(at least {MIN_SIDE}x{MIN_SIDE}); check the axes ({axes})")
        return layer, entry, axes

    def _engine_kwargs(self) -> dict:
        tile = int(self.tile.value) or None
        if tile is not None and tile < 16:
            raise DenoiseError(f"tile size must be 0 (automatic) or at least 16, not {tile}")
        return dict(device=self.device.value or "auto", tile=tile)

    def _noise_args(self, sigma):
        """(sigma, noise keyword arguments) for the engine, from the noise controls.

        auto: the cached Gaussian estimate is used for the Gaussian model; any other
        model is fitted by the engine (sigma "auto"). map: the map is used as it is
        (strength 1: the Noise map widget's map already includes its strength).
        """
        mode = self.noise_mode.value
        noise = self.noise_model.value or "auto"
        strength = float(self.strength.value)
        if mode == "map":
            strength = 1.0
        elif mode == "auto" and noise != "gaussian":
            sigma = "auto"
        return sigma, dict(noise=noise, strength=strength, destripe=bool(self.destripe.value))

    def _prepare_run(self):
        layer, entry, axes = self._common_checks()
        mode = self.processing.value or "2d"
        if mode == "3d" and "Z" not in axes:
            raise DenoiseError(f"3D volume processing needs a Z axis; the axes are {axes}")
        sigma, noise_kw = self._noise_args(self._sigma_for(layer, axes))
        kw = self._engine_kwargs()
        job = _Job("run", layer, layer.name, f"{layer.name}_denoised", _layer_props(layer),
                   kw["device"])
        gen = denoise_iter(layer.data, model_key(entry), sigma=sigma, axes=axes, mode=mode,
                           **noise_kw, **kw)
        return job, gen

    def _prepare_preview(self):
        layer, entry, axes = self._common_checks()
        index, disp = self._current_slice(layer)
        plane = np.asarray(layer.data[index])
        if disp[0] > disp[1]:  # the viewer shows the axes transposed
            plane = np.swapaxes(plane, 0, 1)
        plane_axes = "YXC" if layer.rgb else "YX"
        if plane.ndim != len(plane_axes):
            raise DenoiseError(f"cannot take a 2-D slice of '{layer.name}' for the preview")
        if min(plane.shape[:2]) < MIN_SIDE:
            raise DenoiseError(f"the visible region of '{layer.name}' is too small to preview "
                               f"({plane.shape[0]}x{plane.shape[1]} pixels); zoom out")
        if plane.dtype.kind == "f" and not np.isfinite(plane).any():
            raise DenoiseError(f"the slice shown of '{layer.name}' contains only NaN values")
        sigma = self._sigma_for(layer, axes)
        if not isinstance(sigma, (str, float, int)):  # a noise map: the same slice of it
            sigma = np.asarray(sigma[index], dtype=np.float32)
            if disp[0] > disp[1]:
                sigma = np.swapaxes(sigma, 0, 1)
        sigma, noise_kw = self._noise_args(sigma)
        kw = self._engine_kwargs()
        full = _layer_props(layer)
        d = list(disp)  # the plane's axes, in the order shown
        start = [index[k].start or 0 for k in d]
        scale = [full["scale"][k] for k in d]
        props = dict(
            scale=tuple(scale),
            translate=tuple(full["translate"][k] + s * sc for k, s, sc in zip(d, start, scale)),
            units=tuple(full["units"][k] for k in d),
            axis_labels=tuple(full["axis_labels"][k] for k in d),
            metadata=dict(full["metadata"]), contrast_limits=full["contrast_limits"],
            rgb=full["rgb"], blending=full["blending"], gamma=full["gamma"],
        )
        if "colormap" in full:
            props["colormap"] = full["colormap"]
        job = _Job("preview", layer, layer.name, f"{layer.name}_preview", props, kw["device"])
        gen = denoise_iter(plane, model_key(entry), sigma=sigma, axes=plane_axes, mode="2d",
                           **noise_kw, **kw)
        return job, gen

    def _current_slice(self, layer: Image):
        """(index into layer.data, displayed layer dims) of the slice shown; the displayed
        dims are cropped to the visible region (plus a margin) for big slices."""
        lnd = layer.ndim  # without the RGB axis
        wnd = self._viewer.dims.ndim
        disp = [d - (wnd - lnd) for d in self._viewer.dims.displayed[-2:]]
        if len(disp) < 2 or min(disp) < 0:
            disp = [lnd - 2, lnd - 1]
        shape = layer.data.shape
        pos = layer.world_to_data(self._viewer.dims.point)
        index: list[Any] = []
        for k in range(lnd):
            if k in disp:
                index.append(slice(None))
            else:
                index.append(int(np.clip(np.round(pos[k]), 0, shape[k] - 1)))
        h, w = shape[disp[0]], shape[disp[1]]
        if h * w > self.preview_max_pixels:
            corners = np.asarray(layer.corner_pixels)
            margin = 32
            for k in disp:
                lo, hi = int(corners[0, k]), int(corners[1, k]) + 1
                if hi - lo >= MIN_SIDE and (lo > 0 or hi < shape[k]):
                    index[k] = slice(max(0, lo - margin), min(shape[k], hi + margin))
        return tuple(index), disp

    def _start(self, job: _Job, gen):
        job.gen = gen
        self._job = job
        worker = create_worker(
            _drive, gen, job.cancel, _start_thread=False,
            _connect={"yielded": self._on_progress, "returned": self._on_returned,
                      "errored": self._on_errored, "aborted": self._on_aborted,
                      "finished": self._on_finished},
        )
        self.worker = worker
        job.pbar = napari_progress(total=0, desc=f"Denoising {job.layer_name}" +
                                   (" (preview)" if job.kind == "preview" else ""))
        self.preview_button.enabled = False
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.progress_bar.value = 0
        self.status.value = "Starting..." if job.kind == "run" else "Previewing..."
        # started from the event loop, so callers can connect to the worker's signals first
        QTimer.singleShot(0, worker.start)
        return worker

    # -- worker callbacks (main thread) ------------------------------------------------------

    def _on_progress(self, p):
        job = self._job
        if job is None:
            return
        self.progress_bar.value = int(round(1000 * p.fraction))
        if p.total > 1 or p.done:
            eta = format_seconds(p.eta) if p.done < p.total else "0 s"
            msg = (f"{p.message}: tile {p.done}/{p.total}, "
                   f"{format_seconds(p.elapsed)} elapsed, ETA {eta}")
        else:
            msg = p.message
        self.status.value = msg
        pb = job.pbar
        if pb is not None:
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
        secs = time.perf_counter() - job.t0
        data = result.image
        layers = self._viewer.layers
        if job.layer not in layers:
            if job.kind == "preview":
                show_warning(f"'{job.layer_name}' was removed during the preview; "
                             "the preview was dropped")
                return
            show_warning(f"'{job.layer_name}' was removed while it was being denoised; "
                         f"the result was added as '{job.out_name}'")
        props = dict(job.props)
        meta = dict(props.pop("metadata"))
        meta["napari_denoise"] = dict(result.info)
        if job.kind == "preview":
            meta["napari_denoise"]["preview"] = True
        self._place(job.out_name, data, props, meta)
        self.progress_bar.value = 1000
        info = result.info
        self.status.value = (f"Done in {format_seconds(secs)}: {info.get('model')} on "
                             f"{info.get('device')}, sigma {info.get('sigma')}")
        for text in info.get("warnings") or []:  # the result may be poor: say so, once each
            show_warning(f"{job.out_name}: {text}")

    def _place(self, name: str, data, props: dict, meta: dict):
        """Put ``data`` into the layer ``name``: updated in place if it exists, else added."""
        layers = self._viewer.layers
        out = layers[name] if name in layers else None
        if isinstance(out, Image) and out.rgb == props["rgb"] and out.data.ndim == data.ndim:
            dtype_changed = out.data.dtype != data.dtype
            out.data = data
            for k in ("scale", "translate", "rotate", "shear", "affine", "units",
                      "axis_labels"):
                if k in props:
                    setattr(out, k, props[k])
            out.metadata.clear()
            out.metadata.update(meta)
            if dtype_changed:
                out.contrast_limits = props["contrast_limits"]
            return out
        index = None
        if out is not None:  # same name but not reusable: replace at the same place
            index = layers.index(out)
            layers.remove(out)
        new = self._viewer.add_image(data, name=name, metadata=meta, **props)
        if index is not None:
            layers.move(layers.index(new), index)
        return new

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
            self._release_memory(job.device)
        try:
            self.preview_button.enabled = True
            self.run_button.enabled = True
            self.cancel_button.enabled = False
        except RuntimeError:  # the widget was deleted meanwhile
            pass

    @staticmethod
    def _release_memory(device: str):
        torch = sys.modules.get("torch")
        if torch is None or str(device).startswith(("cpu", "mps")):
            return
        try:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass

    def _on_destroyed(self, *args):
        job = self._job
        if job is not None:
            job.cancel.set()
        for w in (self.worker, self.estimate_worker):
            if w is not None:
                try:
                    w.quit()
                except RuntimeError:
                    pass


def find_denoise_widget(viewer) -> DenoiseWidget | None:
    """The Denoise widget docked in the viewer's window, if any."""
    window = viewer.window
    try:
        widgets = list(window.dock_widgets.values())
    except Exception:  # noqa: BLE001 - older napari: the wrappers
        widgets = []
        for dw in getattr(window, "_dock_widgets", {}).values():
            inner = getattr(dw, "inner_widget", None)
            widgets.append(inner() if callable(inner) else dw.widget())
    for w in widgets:
        if isinstance(w, DenoiseWidget):
            return w
        mg = getattr(w, "_magic_widget", None)  # a native widget wrapping ours
        if isinstance(mg, DenoiseWidget):
            return mg
    return None


def open_denoise_widget(viewer, notify) -> DenoiseWidget | None:
    """The docked Denoise widget, docked first if there is none; ``notify(msg)`` on failure."""
    dw = find_denoise_widget(viewer)
    if dw is not None:
        return dw
    try:
        _, dw = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    except Exception as exc:  # noqa: BLE001 - plugin not registered, no window
        notify(f"could not open the Denoise widget: {exc}")
        return None
    return dw if isinstance(dw, DenoiseWidget) else getattr(dw, "_magic_widget", dw)


def raise_dock(widget) -> None:
    """Show and raise the dock holding ``widget`` (it may be tabbed behind another)."""
    try:
        dock = widget.native.parent()
        if dock is not None:
            dock.show()
            dock.raise_()
    except RuntimeError:  # deleted meanwhile
        pass


def _notify_error(msg: str) -> None:
    """Errors reach the user as a napari notification, never a traceback."""
    show_error(msg)


__all__ = ["DenoiseWidget", "available_models", "format_card", "layer_axes", "noise_map_for"]
