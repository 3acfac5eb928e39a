"""The Denoise widget's controls: what they are, how they show and hide, and how their
values become a :class:`~napari_denoise._widgets.settings.DenoiseSettings`.

:class:`DenoiseControls` knows no engine rules and starts no work; the Denoise
widget (:mod:`.denoise`) adds the viewer's events, the noise estimate and the runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from magicgui.widgets import (CheckBox, ComboBox, Container, FloatSlider, FloatSpinBox, Label,
                              LineEdit, ProgressBar, PushButton, RadioButtons, SpinBox)
from napari.layers import Image
from qtpy.QtWidgets import QSizePolicy

from ..core.axes import AxesError, normalize_axes
from ..core.noise_plan import estimate_words
from ._layers import layer_data
from ._panel import MoreSettings, ScrollPanel
from .denoise_models import (available_models, format_card, model_dims, model_is_blind,
                             model_key, model_label, ordered_models, with_automatic)
from .settings import MODES, NOISE_MODELS, NOISE_MODES, DenoiseSettings

if TYPE_CHECKING:  # pragma: no cover
    import napari

logger = logging.getLogger(__name__)

STRENGTH_TIP = "Multiplies the noise level: above 1 denoises more strongly, below 1 more gently"
STRENGTH_MAP_TIP = ("In map mode the map's values are used as they are: the Noise map widget "
                    "already multiplies its map by its own strength")
AXES_TIP = "Axes of the data, e.g. YX, ZYX, TYX, YXC, CYX, TZCYX"
NOISE_MODE_TIP = ("auto: estimated from the image; manual: set sigma in the data's units; "
                  "map: a layer with the noise level of every pixel")
NOISE_MAP_TIP = ("Image layer holding the noise sigma of every pixel, in the data's units, "
                 "same shape as the image (the Noise map widget's map for the input is "
                 "chosen when there is one)")
NOISE_MODEL_TIP = ("auto: Poisson-Gaussian when the noise clearly grows with the signal, else "
                   "Gaussian; poisson-gaussian: shot plus read noise (fitted when denoising); "
                   "rician: magnitude MRI (sigma from the background, bias corrected). With a "
                   "manual sigma the noise is Gaussian (Rician: bias corrected); a map is used "
                   "as it is")


QUALITY_CHOICES = [("Fast", "fast"), ("Best (about 8x the time)", "best")]
QUALITY_TIP = ("Best runs a network on the 8 flips and rotations of the image and averages "
               "them: about 8x the time, about 0.1 dB better. Classical methods run "
               "once either way")
PRECISION_CHOICES = [("Auto", "auto"), ("Full (fp32)", "fp32"), ("bfloat16", "bf16"),
                     ("int8 (ONNX Runtime, CPU)", "int8")]
PRECISION_TIP = ("Arithmetic of the networks. Auto: bfloat16 on GPUs and on CPUs with AMX or "
                 "AVX512-BF16, for models it costs at most 0.02 dB (3-5x faster there); "
                 "full precision otherwise. int8: a quantised copy run by ONNX Runtime on "
                 "the CPU, faster on most CPUs at a small cost in quality (see the model "
                 "card)")


def _row(name: str, label: str, widgets: list) -> Container:
    row = Container(name=name, label=label, layout="horizontal", labels=False, widgets=widgets)
    row.margins = (0, 0, 0, 0)
    return row


class DenoiseControls(ScrollPanel):
    """The controls of the Denoise widget, bound to a :class:`DenoiseSettings`; the
    advanced ones folded under "More settings"."""


    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._models: dict[str, dict] = {}
        self._card_dialog = None
        self._make_input_controls()
        self._make_noise_controls()
        self._make_run_controls()
        self.more = MoreSettings([
            self.noise_model, self.destripe, self.processing, self.axes, self.quality,
            self.device, self.device_info, self.precision, self.tile_row])
        self.extend([
            self.image_layer, self.method, self.method_info, self.card_button,
            self.noise_mode, self.sigma_info, self.sigma_row, self.noise_map, self.strength,
            self.tune_strength, self.more.button, *self.more.widgets,
            self.buttons, self.lazy_buttons, self.progress_bar, self.status, self.result_buttons,
            self.compare_input, self.copy_buttons,
        ])
        for lab in (self.method_info, self.sigma_info, self.device_info, self.status):
            lab.native.setWordWrap(True)  # long texts wrap instead of widening the panel
            lab.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.fit()
        reason = _gpu_reason()
        if reason:
            self.device_info.value = f"No GPU: {reason}"
            self.device.tooltip = f"No GPU is used: {reason}"
        self.more.show_if(self.device_info, bool(reason))
        self.card_button.changed.connect(self.show_model_card)
        self.sigma_slider.changed.connect(self._on_slider)
        self.sigma_value.changed.connect(self._on_spin)
        self.tune_strength.changed.connect(self.show_noise_mode)  # strength chosen or typed

    def _make_input_controls(self):
        self.image_layer = ComboBox(name="image_layer", label="Image",
                                    choices=self._image_layer_choices,
                                    tooltip="The image layer to denoise (never modified)")
        self.method = ComboBox(name="method", label="Method", choices=self._method_choices,
                               tooltip="Pretrained networks, classical methods and your own "
                                       "trained models")
        self.method_info = Label(name="method_info", label=" ")
        self.card_button = PushButton(name="card_button", text="Model card")

    def _make_noise_controls(self):
        self.noise_mode = RadioButtons(name="noise_mode", label="Noise level",
                                       choices=list(NOISE_MODES), value="auto",
                                       orientation="horizontal", tooltip=NOISE_MODE_TIP)
        self.sigma_info = Label(name="sigma_info", label=" ")
        self.sigma_slider = FloatSlider(name="sigma_slider", min=0.0, max=1.0, value=0.05,
                                        readout=False)
        self.sigma_value = FloatSpinBox(name="sigma_value", min=0.0, max=1.0, value=0.05,
                                        step=0.001)
        self.sigma_row = _row("sigma_row", "Sigma", [self.sigma_slider, self.sigma_value])
        self.noise_map = ComboBox(name="noise_map", label="Noise map",
                                  choices=self._noise_map_choices, tooltip=NOISE_MAP_TIP)
        self.noise_model = ComboBox(name="noise_model", label="Noise model",
                                    choices=list(NOISE_MODELS), value="auto",
                                    tooltip=NOISE_MODEL_TIP)
        self.strength = FloatSpinBox(name="strength", label="Strength", min=0.1, max=5.0,
                                     step=0.1, value=1.0, tooltip=STRENGTH_TIP)
        self.tune_strength = CheckBox(
            name="tune_strength", text="Choose the strength on the image", value=False,
            tooltip="Before the run, try strengths 0.6 to 1.6 on a central 256x256 part of "
                    "the image and keep the one whose self-supervised error (Noise2Self: "
                    "hidden pixels predicted from their neighbours) is lowest. No clean "
                    "image is needed; it costs about 25 runs on that part")
        self.destripe = CheckBox(name="destripe", text="Remove stripes", value=False,
                                 tooltip="Remove horizontal/vertical stripes (e.g. light-sheet "
                                         "shadows, detector banding) before denoising")

    def _make_run_controls(self):
        self.axes = LineEdit(name="axes", label="Axes",
                             tooltip=f"{AXES_TIP} (guessed from the layer; editable)")
        self.processing = ComboBox(name="processing", label="Processing",
                                   choices=self._mode_choices)
        self.device = ComboBox(name="device", label="Device", choices=device_choices())
        self.device_info = Label(name="device_info", label=" ")
        self.quality = ComboBox(name="quality", label="Quality", choices=QUALITY_CHOICES,
                                value="fast", tooltip=QUALITY_TIP)
        self.precision = ComboBox(name="precision", label="Precision",
                                  choices=PRECISION_CHOICES, value="auto",
                                  tooltip=PRECISION_TIP)
        self.tile = SpinBox(name="tile", min=0, max=8192, step=16, value=0,
                            tooltip="Tile side in pixels; 0 picks one from the memory "
                                    "available")
        self.tile_row = _row("tile_row", "Tile size", [self.tile, Label(value="0: automatic")])
        self.preview_button = PushButton(name="preview_button", text="Preview",
                                         tooltip="Denoise the slice shown (visible region of "
                                                 "big images) into a preview layer named after "
                                                 "the slice and the settings; it is removed "
                                                 "when another slice is shown")
        self.run_button = PushButton(name="run_button", text="Run")
        self.cancel_button = PushButton(name="cancel_button", text="Cancel", enabled=False)
        self.on_the_fly_button = PushButton(
            name="on_the_fly_button", text="On the fly",
            tooltip="Add a layer that denoises each plane when it is shown: for long stacks "
                    "and data larger than memory (lazy and multiscale layers stay lazy)")
        self.buttons = _row("buttons", " ", [self.preview_button, self.run_button,
                                             self.cancel_button])
        self.lazy_buttons = _row("lazy_buttons", "Long stacks", [self.on_the_fly_button])
        self.progress_bar = ProgressBar(name="progress_bar", label="Progress", min=0, max=1000,
                                        value=0)
        self.status = Label(name="status", label=" ")
        self.keep_button = PushButton(
            name="keep_button", text="Keep", enabled=False,
            tooltip="Keep the last result as a layer named with its settings: the next run "
                    "adds a new result instead of replacing it")
        self.copy_command_button = PushButton(
            name="copy_command_button", text="Copy as command line", enabled=False,
            tooltip="Copy a napari-denoise command that repeats the last run on the image file")
        self.copy_python_button = PushButton(
            name="copy_python_button", text="Copy as Python", enabled=False,
            tooltip="Copy Python code that repeats the last run on the image's array")
        self.save_button = PushButton(
            name="save_button", text="Save result...", enabled=False,
            tooltip="Write the last result to a TIFF, OME-TIFF or OME-Zarr file with the "
                    "input's pixel size, units and axes and the run's settings")
        self.compare_input = CheckBox(
            name="compare_input", text="Show the input (Alt+B)", value=False, enabled=False,
            tooltip="Hide the result to see the input under it; Alt+B on the canvas flips "
                    "between them")
        self.result_buttons = _row("result_buttons", "Result", [self.keep_button,
                                                                self.save_button])
        self.copy_buttons = _row("copy_buttons", " ", [self.copy_command_button,
                                                       self.copy_python_button])

    # -- choices -------------------------------------------------------------------------

    def _image_layer_choices(self, widget=None):
        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, Image)]

    def _noise_map_choices(self, widget=None):
        current = getattr(self, "image_layer", None)
        current = current.value if current is not None else None
        return [(layer.name, layer) for layer in self._viewer.layers
                if isinstance(layer, Image) and layer is not current]

    def _method_choices(self, widget=None):
        entries = ordered_models(with_automatic(available_models()))
        self._models = {model_key(e): e for e in entries}
        return [(model_label(e), model_key(e)) for e in entries]

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

    # -- reading the controls ------------------------------------------------------------

    def current_model(self) -> dict | None:
        return self._models.get(self.method.value) if self.method.value is not None else None

    def _axes_or_none(self) -> str | None:
        """The axes typed, checked against the input layer (None when they do not fit)."""
        layer = self.image_layer.value
        if layer is None:
            return None
        try:
            return normalize_axes(self.axes.value, layer_data(layer, multiscale=True).ndim)
        except AxesError:
            return None

    def settings_with(self, estimate: float | None) -> DenoiseSettings:
        """The controls' values, with ``estimate`` as the input's noise estimate."""
        m = self.noise_map.value
        return DenoiseSettings(
            model=self.method.value if self.current_model() else None,
            noise_mode=self.noise_mode.value, sigma=float(self.sigma_value.value),
            estimate=estimate, noise_map=None if m is None else m.data,
            noise_model=self.noise_model.value or "auto", strength=float(self.strength.value),
            tune_strength=bool(self.tune_strength.value), destripe=bool(self.destripe.value), axes=self.axes.value,
            mode=self.processing.value or "2d", device=self.device.value or "auto",
            tile=int(self.tile.value), quality=self.quality.value or "fast",
            precision=self.precision.value or "auto")

    # -- showing -------------------------------------------------------------------------

    def set_value_range(self, lo: float, hi: float) -> None:
        """The manual sigma goes up to half the data's range, in the data's units."""
        span = hi - lo
        top = 0.5 * span
        cur = float(self.sigma_value.value)
        for w in (self.sigma_slider, self.sigma_value):
            w.min, w.max = 0.0, top
            w.step = span / 1000.0
        self.sigma_value.value = cur if 0 < cur <= top else 0.05 * span
        self.sigma_row.tooltip = (f"Noise sigma in the data's units (data range "
                                  f"{lo:.4g} to {hi:.4g})")

    def show_method(self) -> None:
        entry = self.current_model()
        if entry is None:
            self.method_info.value = ("No denoising method is available: pretrained weights, "
                                      "classical methods and your models are all missing.")
        else:
            blind = "  (blind: the noise level is not needed)" if model_is_blind(entry) else ""
            self.method_info.value = ((entry.get("description") or "") + blind).strip()
        self.card_button.enabled = entry is not None
        self.processing.reset_choices()

    def show_noise_mode(self) -> None:
        mode = self.noise_mode.value
        self.sigma_row.visible = mode == "manual"
        self.noise_map.visible = mode == "map"
        self.sigma_info.visible = mode == "auto"
        # a map is used as it is (the Noise map widget's map includes its strength)
        self.tune_strength.enabled = mode != "map"
        self.strength.enabled = mode != "map" and not self.tune_strength.value
        self.strength.tooltip = STRENGTH_MAP_TIP if mode == "map" else STRENGTH_TIP

    def show_axes(self) -> None:
        self.processing.reset_choices()
        layer = self.image_layer.value
        self.axes.tooltip = (AXES_TIP if layer is None or self._axes_or_none() else
                             f"'{self.axes.value}' is not valid for this layer's "
                             f"{layer_data(layer, multiscale=True).ndim} dimensions")

    def show_estimate(self, est) -> None:
        """The noise a run will assume (auto mode): the engine's own estimate, in words."""
        self.sigma_info.value = estimate_words(est)

    def set_busy(self, busy: bool) -> None:
        try:
            self.preview_button.enabled = not busy
            self.run_button.enabled = not busy
            self.cancel_button.enabled = busy
        except RuntimeError:  # the widget was deleted meanwhile
            pass

    def _on_slider(self, value):
        if abs(float(self.sigma_value.value) - value) > 1e-12:
            self.sigma_value.value = value

    def _on_spin(self, value):
        if abs(float(self.sigma_slider.value) - value) > 1e-12:
            self.sigma_slider.value = min(max(value, self.sigma_slider.min), self.sigma_slider.max)

    def show_model_card(self, value=None):
        """Show the selected model's card in a read-only window."""
        entry = self.current_model()
        if entry is None:
            return None
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


def device_choices() -> list[tuple[str, str]]:
    """(description, device) of every device torch can use here; the CPU without torch."""
    from ..core.devices import available_devices

    try:
        return [(desc, dev) for dev, desc in available_devices()]
    except (ImportError, OSError) as exc:  # torch missing, or its libraries broken
        logger.warning("could not list devices: %s", exc)
        return [("CPU", "cpu")]


def _gpu_reason() -> str | None:
    from ..core.devices import gpu_unavailable_reason

    try:
        return gpu_unavailable_reason()
    except (ImportError, OSError) as exc:
        return str(exc)
