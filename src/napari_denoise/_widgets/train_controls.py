"""The Train widget's controls: what they are, how they show and hide, and how their
values become a :class:`~napari_denoise._widgets.train_settings.TrainSettings`.

:class:`TrainControls` knows no training rules and starts no work; the Train widget
(:mod:`.train`) adds the viewer's events, the worker, the previews and the results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (ComboBox, Container, FloatSpinBox, Label, LineEdit, ProgressBar,
                              PushButton, SpinBox)
from napari.layers import Image
from qtpy.QtWidgets import QSizePolicy

from ._layers import layer_axes
from .denoise_controls import device_choices
from .denoise_models import available_models, model_key
from ._panel import MoreSettings, ScrollPanel
from .train_plot import LossPlot
from .train_settings import (ARCH_ARGS, ARCHS, AUTO_INIT, DIMS, DISTANCES, LOSSES, NO_INIT,
                             PAIR_HELP, PAIRS, SIZES, LayerInfo, TrainSettings,
                             stack_axis_choices)

if TYPE_CHECKING:  # pragma: no cover
    import napari


def layer_info(layer: Image | None) -> LayerInfo | None:
    """What the settings need of ``layer`` (None for none)."""
    if layer is None:
        return None
    data = layer.data
    return LayerInfo(name=layer.name, shape=tuple(data.shape), dtype=str(np.dtype(data.dtype)),
                     axes=layer_axes(layer), rgb=bool(layer.rgb),
                     multiscale=bool(layer.multiscale),
                     axis_labels=tuple(str(a) for a in layer.axis_labels),
                     scale=tuple(float(v) for v in layer.scale))


def _row(name: str, widgets: list, label: str = " ") -> Container:
    row = Container(name=name, label=label, layout="horizontal", labels=False, widgets=widgets)
    row.margins = (0, 0, 0, 0)
    return row


class TrainControls(ScrollPanel):
    """The controls of the Train widget, bound to a :class:`TrainSettings`; the network
    and the optimiser folded under "More settings"."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._auto_name = ""
        self._axis_for = None  # the layer whose axes the axis control lists
        self._make_data_controls()
        self._make_network_controls()
        self._make_run_controls()
        self.more = MoreSettings([self.reference_layer, self.dims, self.model, self.size,
                                  self.patch,
                                  self.batch, self.lr, self.loss, self.device])
        self.extend([
            self.data_layer, self.pairs, self.pairs_info, self.target_layer, self.axis,
            self.distance, self.init, self.minutes, self.steps_row,
            self.more.button, *self.more.widgets,
            self.buttons, self.progress_bar, self.status, self.plot_box, self.model_name,
            self.result_buttons,
        ])
        for lab in (self.pairs_info, self.status):
            lab.native.setWordWrap(True)
            lab.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.fit()

    def _make_data_controls(self):
        self.data_layer = ComboBox(name="data_layer", label="Noisy data",
                                   choices=self._image_choices,
                                   tooltip="The noisy image or stack to train on")
        self.pairs = ComboBox(name="pairs", label="Pairs", choices=PAIRS, value="auto",
                              tooltip="How training pairs are made from your noisy data")
        self.pairs_info = Label(name="pairs_info", label=" ")
        self.target_layer = ComboBox(name="target_layer", label="Second capture",
                                     choices=self._other_choices, nullable=True, value=None,
                                     tooltip="A second capture of the same scene, same shape "
                                             "(with automatic pairs: optional)")
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

    def _make_network_controls(self):
        self.dims = ComboBox(name="dims", label="Network on", choices=DIMS, value=2,
                             tooltip="planes: a 2-D network on every plane (can start from a "
                                     "shipped network); volumes: a 3-D network on Z stacks, "
                                     "patches shaped by the layer's voxel size (scale)")
        self.model = ComboBox(name="model", label="Network", choices=ARCHS, value="unet")
        self.size = ComboBox(name="size", label="Size", choices=SIZES, value="standard",
                             tooltip="Network width/depth: bigger learns more, trains slower")
        self.init = ComboBox(name="init", label="Start from", choices=self._init_choices,
                             value=AUTO_INIT,
                             tooltip="Fine-tune a shipped or saved network on your data "
                                     "(automatic: the one for its kind of noise, 2-D "
                                     "training), or start from random weights")
        self.patch = SpinBox(name="patch", label="Patch size", min=16, max=512, step=8,
                             value=64, tooltip="Side in pixels of the training crops")
        self.batch = SpinBox(name="batch", label="Batch size", min=1, max=256, value=8)
        self.lr = FloatSpinBox(name="lr", label="Learning rate", min=0.0, max=0.1, step=1e-5,
                               value=0.0, tooltip="Peak learning rate; automatic (0): 1e-3, "
                                                  "2e-4 when fine-tuning")
        self.lr.native.setSpecialValueText("automatic")
        self.loss = ComboBox(name="loss", label="Loss", choices=list(LOSSES), value="l2",
                             tooltip="l2: the Noise2Noise choice; l1 / charbonnier: robust "
                                     "to outliers")
        self.minutes = FloatSpinBox(name="minutes", label="Minutes", min=0.0, max=10000.0,
                                    step=0.5, value=5.0, tooltip="Training time; 0: no limit")
        self.minutes.native.setSpecialValueText("no limit")
        self.steps = SpinBox(name="steps", min=0, max=10_000_000, step=100, value=0,
                             tooltip="Training steps; with minutes too, whichever ends "
                                     "first; 0: by time. Both 0: 2000 steps (400 when "
                                     "fine-tuning)")
        self.steps_row = _row("steps_row", [self.steps, Label(value="0: by time")],
                              label="Steps")
        self.device = ComboBox(name="device", label="Device", choices=device_choices())

    def _make_run_controls(self):
        self.train_button = PushButton(name="train_button", text="Train")
        self.stop_button = PushButton(name="stop_button", text="Stop", enabled=False)
        self.resume_button = PushButton(
            name="resume_button", text="Resume", enabled=False,
            tooltip="Continue the last training (same network, optimiser and history) to "
                    "the end of its schedule; a finished one goes on for 'Steps' more "
                    "steps, else for 'Minutes'")
        self.buttons = _row("buttons", [self.train_button, self.stop_button,
                                        self.resume_button])
        self.progress_bar = ProgressBar(name="progress_bar", label="Progress", min=0,
                                        max=1000, value=0)
        self.status = Label(name="status", label=" ")
        self.plot = LossPlot()
        self.plot_box = Container(name="plot_box", label="Loss", labels=False)
        self.plot_box.margins = (0, 0, 0, 0)
        self.plot_box.native.layout().addWidget(self.plot)
        self.model_name = LineEdit(name="model_name", label="Model name",
                                   tooltip="Saved as <name>.safetensors in your models folder")
        self.save_button = PushButton(name="save_button", text="Save", enabled=False)
        self.use_button = PushButton(name="use_button", text="Use in Denoise", enabled=False)
        self.export_button = PushButton(
            name="export_button", text="Export...", enabled=False,
            tooltip="Write the model for other software: a BioImage Model Zoo package "
                    "(.zip, with its model card), ONNX or TorchScript")
        self.result_buttons = _row("result_buttons", [self.save_button, self.export_button,
                                                      self.use_button])

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
        layer = dl.value if dl is not None else None
        return stack_axis_choices(layer_info(layer) if layer is not None else None)

    def _init_choices(self, widget=None):
        from ..core.registry import arch_takes_map

        out = [("automatic: the shipped network for the data's noise", AUTO_INIT),
               ("none (random weights)", NO_INIT)]
        for e in available_models():
            card = e.get("card") or {}
            arch = card.get("arch")
            trainable = arch in ARCH_ARGS or arch == "mapped" or arch_takes_map(arch)
            if e["kind"] not in ("pretrained", "user") or not trainable \
                    or str(e.get("path") or "").endswith(".zip"):  # a package: not here
                continue
            if int(card.get("dims", 2)) != 2 or int(card.get("channels", 1)) != 1:
                continue
            kind = "pretrained" if e["kind"] == "pretrained" else "yours"
            out.append((f"{e['name']} ({kind}, {card['arch']})", model_key(e)))
        return out

    # -- the settings ------------------------------------------------------------------------

    def settings(self) -> TrainSettings:
        """The controls' values, and what the settings need of the layers chosen."""
        pairs = self.pairs.value
        return TrainSettings(
            pairs=pairs, axis=self.axis.value, distance=self.distance.value,
            model=self.model.value, size=self.size.value, init=self.init.value,
            patch=int(self.patch.value), batch=int(self.batch.value),
            dims=int(self.dims.value), lr=float(self.lr.value), loss=self.loss.value,
            minutes=float(self.minutes.value), steps=int(self.steps.value),
            device=self.device.value or "auto", name=self.model_name.value,
            data=layer_info(self.data_layer.value),
            target=layer_info(self.target_layer.value) if pairs in ("two", "auto") else None,
            reference=layer_info(self.reference_layer.value))

    # -- showing -------------------------------------------------------------------------------

    def show_data(self) -> None:
        """Follow the data layer: the other layers, its stack axes, the default name."""
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

    def show_pairs(self) -> None:
        kind = self.pairs.value
        self.pairs_info.value = PAIR_HELP.get(kind, "")
        self.target_layer.visible = kind in ("two", "auto")
        self.axis.visible = kind in ("neighbors", "others", "auto")
        self.distance.visible = kind == "neighbors"

    def show_init(self) -> None:
        """Fine-tuning takes the network of the model it starts from."""
        fine_tune = self.init.value not in (None, NO_INIT)
        self.model.enabled = not fine_tune
        self.size.enabled = not fine_tune

    def show_dims(self) -> None:
        """A 3-D patch holds far more voxels: the core's default patch for each."""
        from ..core.training.n2n_setup import DEFAULT_PATCH

        dims = int(self.dims.value)
        if int(self.patch.value) == DEFAULT_PATCH[5 - dims]:
            self.patch.value = DEFAULT_PATCH[dims]

    def set_busy(self, running: bool, *, resumable: bool, trained: bool) -> None:
        try:
            self.train_button.enabled = not running
            self.resume_button.enabled = not running and resumable
            self.stop_button.enabled = running
            self.save_button.enabled = not running and trained
            self.export_button.enabled = not running and trained
            self.use_button.enabled = not running and trained
        except RuntimeError:  # the widget was deleted meanwhile
            pass
