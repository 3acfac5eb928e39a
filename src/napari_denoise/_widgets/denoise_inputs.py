"""The Denoise widget's inputs: which layer, its axes and its noise level.

:class:`DenoiseInputs` follows the layer list and the layer selected in it, watches
the input's data, and keeps the input's noise estimate (:mod:`.denoise_estimate`).
The Denoise widget (:mod:`.denoise`) adds the runs and previews. Every viewer event
it follows, and every estimate it starts, ends with the panel (:mod:`._lifetime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import PushButton
from napari.layers import Image

from ._layers import NOISE_MAP_SUFFIX, layer_axes, noise_map_for, value_range
from ._lifetime import Lifetime
from .denoise_controls import DenoiseControls
from .denoise_estimate import SigmaEstimate, estimate_key
from .settings import DenoiseSettings

if TYPE_CHECKING:  # pragma: no cover
    import napari


class DenoiseInputs(DenoiseControls):
    """The Denoise widget's controls, following the viewer's layers and the input's noise."""

    #: layers with more elements than this get their noise estimated in a worker
    #: (about 0.2 s for 512x512 on one core)
    sync_estimate_max = 512 * 512

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self._job = None  # the run or preview in flight (the Denoise widget's)
        self._life = Lifetime(self.native, self._on_close, self._after_close)
        life = self._life
        self._estimates = SigmaEstimate(life.guard(self._estimate_done),
                                        life.guard(self._estimate_failed), start=life.start)
        self._watched = None  # the input layer whose data changes are followed
        self._status_layer = None  # the layer whose result the status line shows

        self.import_button = PushButton(
            name="import_button", text="Import model...",
            tooltip="Add a BioImage Model Zoo package (.zip, or its rdf.yaml) to your models")
        self.insert(self.index(self.card_button) + 1, self.import_button)
        self.fit()  # magicgui widened the scroll area to the unfitted rows on insert
        self.import_button.changed.connect(self.import_model)
        self.image_layer.changed.connect(self._on_layer_changed)
        self.method.changed.connect(self._on_method_changed)
        self.noise_mode.changed.connect(self._on_noise_mode_changed)
        self.noise_model.changed.connect(self._on_noise_model_changed)
        self.axes.changed.connect(self._on_axes_changed)
        life.follow_layer_list(self._viewer.layers, self._refresh_layers)
        life.follow(self._viewer.layers.selection.events.active, self._on_active_layer)

    def _on_close(self) -> None:
        """The panel closed: stop following the input and estimating its noise."""
        self._estimates.quit()
        self._watch(None)

    def _after_close(self, ended: bool) -> None:
        pass

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
                                                      self._axes_or_none(), self._noise()))

    def _noise(self) -> str:
        """The noise model chosen (what the estimate shown is made for)."""
        return self.noise_model.value or "auto"

    def import_model(self, value=None, path=None):
        """Copy a model package (chosen in a file dialog unless ``path`` is given) into
        the user's models and select it; None if cancelled or refused (notified)."""
        from napari.utils.notifications import show_error, show_info

        from ..core.errors import DenoiseError
        from ..core.export.package_run import import_package
        from .model_io import ask_package_path

        path = path or ask_package_path(self.native)
        if not path:
            return None
        try:
            dst = import_package(path)
        except (DenoiseError, OSError) as exc:
            show_error(f"Import failed: {exc}")
            return None
        self.refresh_models()
        if str(dst) in self._models:
            self.method.value = str(dst)
        show_info(f"Imported '{dst.stem}' into your models ({dst})")
        return dst

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
                self._estimates.get(self.image_layer.value, ax, self._noise()) is None:
            self.estimate_noise()

    def _on_noise_mode_changed(self, value=None):
        self.show_noise_mode()
        if self.noise_mode.value == "map":
            self._preselect_noise_map()
        if self.noise_mode.value == "auto":
            self.estimate_noise()

    def _on_noise_model_changed(self, value=None):
        if self.noise_mode.value == "auto":  # the decision depends on the model chosen
            self.estimate_noise()

    # -- noise estimate -----------------------------------------------------------------

    def estimate_noise(self):
        """Estimate the noise of the chosen layer as a run will (auto mode), and show
        the decision: Gaussian with its sigma, or a level that grows with brightness."""
        layer, ax, noise = self.image_layer.value, self._axes_or_none(), self._noise()
        if layer is None:
            return
        if ax is None:
            self.sigma_info.value = "Set valid axes to estimate the noise level."
        elif layer.multiscale:
            self.sigma_info.value = "Noise estimation is not available for multiscale layers."
        elif self._estimates.estimate(layer, ax, noise) is not None:
            self.show_estimate(self._estimates.estimate(layer, ax, noise))
        elif self._estimates.start(layer, ax, self.sync_estimate_max, noise):
            self.sigma_info.value = "Estimating the noise level..."

    def _estimate_done(self, key: tuple, est):
        layer = self.image_layer.value
        if layer is None or key != estimate_key(layer, self._axes_or_none(), self._noise()):
            return  # stale: the selection, the data or the noise model changed meanwhile
        self._estimates.store(key, est)
        self.show_estimate(est)
        if self.noise_mode.value != "manual" and est.sigma > 0:
            self.sigma_value.value = min(float(est.sigma), self.sigma_value.max)

    def _estimate_failed(self, key: tuple, exc: BaseException):
        self.sigma_info.value = f"Noise estimation failed: {exc}. Set the noise level manually."
