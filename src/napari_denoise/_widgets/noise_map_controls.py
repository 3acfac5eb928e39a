"""The Noise map widget's controls: the magicgui fields, the layers they offer and what
they show. The rules behind them are in :mod:`.noise_map_rules`; what the buttons do is
in :class:`~napari_denoise._widgets.noise_map.NoiseMapWidget`."""

from __future__ import annotations

from magicgui.widgets import (ComboBox, Container, FloatSpinBox, Label, LineEdit,
                              ProgressBar, PushButton, RadioButtons)
from napari.layers import Image

from ._layers import NOISE_MAP_SUFFIX, find_layer, noise_map_for
from ._panel import ScrollPanel
from .noise_map_plot import MeanVariancePlot
from .noise_map_rules import NOISE_MODELS, SOURCE_LAYER, SOURCE_MODEL, format_value


def map_layer_name(input_name: str) -> str:
    """Name of the noise-map layer shown for the layer called ``input_name``."""
    return f"{input_name}{NOISE_MAP_SUFFIX}"


def _line(name: str, label: str, tooltip: str) -> LineEdit:
    return LineEdit(name=name, label=label, tooltip=tooltip)


class NoiseMapControls(ScrollPanel):
    """The fields of the Noise map widget, laid out (in a scroll area); no reactions of
    their own."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._updating = False        # fields are being filled in from the model
        self._add_input_controls()
        self._add_model_controls()
        self._add_map_controls()
        self.extend([self.image_layer, self.axes, self.model, self.buttons, self.busy,
                     self.message, self.plot_box, self.gain, self.offset, self.strength,
                     self.source, self.source_layer, self.status])
        for lab in (self.message, self.status):
            lab.native.setWordWrap(True)
        self.fit()

    def _add_input_controls(self) -> None:
        self.image_layer = ComboBox(name="image_layer", label="Image",
                                    choices=self._image_choices,
                                    tooltip="The image layer whose noise is modelled "
                                            "(never modified)")
        self.axes = _line("axes", "Axes", "Axes of the data, e.g. YX, ZYX, TYX (guessed from "
                          "the layer; with T the fit uses differences of frames)")
        self.model = ComboBox(name="model", label="Noise model", choices=NOISE_MODELS,
                              value="poisson-gaussian",
                              tooltip="poisson-gaussian: variance = a * signal + b (photon "
                                      "shot noise plus read noise); gaussian: one sigma; "
                                      "auto: Poisson-Gaussian when the variance clearly "
                                      "grows with the signal")
        self.estimate_button = PushButton(name="estimate_button", text="Estimate")
        self.show_button = PushButton(name="show_button", text="Show map")
        self.use_button = PushButton(name="use_button", text="Use in Denoise",
                                     tooltip="Select the input and this map in the Denoise "
                                             "widget (noise level: map)")
        self.buttons = Container(name="buttons", label=" ", layout="horizontal", labels=False,
                                 widgets=[self.estimate_button, self.show_button,
                                          self.use_button])
        self.buttons.margins = (0, 0, 0, 0)
        self.busy = ProgressBar(name="busy", label=" ", min=0, max=1, value=0, visible=False)
        self.busy.native.setRange(0, 0)  # indeterminate: a busy indicator
        self.busy.native.setTextVisible(False)
        self.message = Label(name="message", label=" ", visible=False)

    def _add_model_controls(self) -> None:
        self.plot = MeanVariancePlot()
        # no label column: the plot takes the panel's width (its axes say what it shows)
        self.plot_box = Container(name="plot_box", label=" ", labels=False)
        self.plot_box.margins = (0, 0, 0, 0)
        self.plot_box.native.layout().addWidget(self.plot)
        self.gain = _line("gain", "Gain a", "Variance added per unit of signal (data units), "
                          "e.g. 0.01 or 1e-4; 0 gives Gaussian noise")
        self.offset = _line("offset", "Offset b", "Variance at zero signal (data units "
                            "squared), e.g. 1e-3; negative for a pedestal (black level)")

    def _add_map_controls(self) -> None:
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
        self.status = Label(name="status", label=" ")

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

    # -- showing -----------------------------------------------------------------------

    @property
    def map_layer(self) -> Image | None:
        """The map layer shown for the current input, if any."""
        layer = self.image_layer.value
        if layer is None:
            return None
        out = find_layer(self._viewer, map_layer_name(layer.name))
        return out if isinstance(out, Image) else None

    def _fill_fields(self, est) -> None:
        """Show the gain and offset of ``est`` (empty for None) without reacting to it."""
        self._updating = True
        try:
            self.gain.value = "" if est is None else format_value(est.a)
            self.offset.value = "" if est is None else format_value(est.b)
        finally:
            self._updating = False

    def _set_message(self, text: str) -> None:
        self.message.value = text
        self.message.visible = bool(text)


__all__ = ["NoiseMapControls", "map_layer_name"]
