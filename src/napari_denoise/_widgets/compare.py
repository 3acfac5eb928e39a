"""The Compare dock widget: several methods on the slice shown, side by side.

Tick methods, press Compare: a worker runs each on the plane the viewer shows
(:mod:`.compare_rules`, which holds every rule; this module only binds controls and
layers), then the results are placed in a row to the right of the input with their
residuals (input minus result: it should look like noise) under them, and a table
gives each method's ground-truth-free score and, against a reference layer when one
is picked, PSNR and SSIM. Cancel, or closing the panel, stops the worker and adds
nothing (:mod:`._lifetime`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, ProgressBar, PushButton, Table
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtWidgets import QSizePolicy

from ..core.progress import Cancelled
from ._layers import current_slice, layer_axes, layer_data, layer_props, plane_props, take_plane
from ._lifetime import Lifetime
from ._panel import ScrollPanel
from .compare_rules import (COMPARE_MAX_PIXELS, DEFAULT_METHODS, SCORE_TIP, check_reference,
                            compare_iter, residual_limits, side_by_side, table)
from .denoise_controls import device_choices
from .denoise_models import available_models, model_key, model_label, ordered_models, \
    with_automatic
from .denoise_worker import progress_text
from .run_record import slice_label

if TYPE_CHECKING:  # pragma: no cover
    import napari


class CompareWidget(ScrollPanel):
    """Run several denoisers on the slice shown and compare them."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self.worker = None
        self._cancel: threading.Event | None = None
        self._pending: dict | None = None  # what the run in flight will place
        self.shown: list = []  # the layers of the last comparison
        self.results: list = []
        self.image_layer = ComboBox(name="image_layer", label="Image",
                                    choices=self._image_choices,
                                    tooltip="The image to compare methods on (the slice "
                                            "shown; never modified)")
        entries = ordered_models(with_automatic(available_models()))
        self.method_boxes = {model_key(e): CheckBox(name=f"m{i}", text=model_label(e),
                                                    value=model_key(e) in DEFAULT_METHODS)
                             for i, e in enumerate(entries)}
        self.methods = Container(name="methods", label="Methods", labels=False,
                                 widgets=list(self.method_boxes.values()))
        self.methods.margins = (0, 0, 0, 0)
        self.reference = ComboBox(name="reference", label="Reference", nullable=True,
                                  value=None, choices=self._reference_choices,
                                  tooltip="A clean image of the same scene, if you have one: "
                                          "PSNR and SSIM against it")
        self.score_box = CheckBox(name="score_box", value=True,
                                  text="Score without a clean image (slower)",
                                  tooltip=SCORE_TIP)
        self.device = ComboBox(name="device", label="Device", choices=device_choices())
        self.run_button = PushButton(name="run_button", text="Compare")
        self.cancel_button = PushButton(name="cancel_button", text="Cancel", enabled=False)
        buttons = Container(name="buttons", label=" ", layout="horizontal", labels=False,
                            widgets=[self.run_button, self.cancel_button])
        buttons.margins = (0, 0, 0, 0)
        self.progress_bar = ProgressBar(name="progress_bar", label="Progress", min=0,
                                        max=1000, value=0)
        self.status = Label(name="status", label=" ")
        self.status.native.setWordWrap(True)
        self.status.native.setSizePolicy(QSizePolicy.Policy.Expanding,
                                         QSizePolicy.Policy.Preferred)
        self.table = Table(name="table", label="Scores")
        self.table.native.setMinimumHeight(140)
        self.table.tooltip = SCORE_TIP
        self.extend([self.image_layer, self.methods, self.reference, self.score_box,
                     self.device, buttons, self.progress_bar, self.status, self.table])
        self.fit()
        self._life = Lifetime(self.native, self._on_close)
        self._life.follow_layer_list(self._viewer.layers, self._refresh_layers)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.image_layer.changed.connect(self.reference.reset_choices)  # any image but it

    # -- choices -------------------------------------------------------------------------

    def _images(self):
        return [lay for lay in self._viewer.layers if isinstance(lay, Image)
                and lay not in self.shown]

    def _image_choices(self, widget=None):
        return [(lay.name, lay) for lay in self._images()]

    def _reference_choices(self, widget=None):
        current = getattr(self, "image_layer", None)
        current = current.value if current is not None else None
        return [(lay.name, lay) for lay in self._images() if lay is not current]

    def _refresh_layers(self, event=None):
        self.image_layer.reset_choices()
        self.reference.reset_choices()
        self.shown = [lay for lay in self.shown if lay in self._viewer.layers]

    def chosen_methods(self) -> list[tuple[str, str]]:
        return [(key, box.text) for key, box in self.method_boxes.items() if box.value]

    # -- run -----------------------------------------------------------------------------

    def run(self, value=None):
        """Run the ticked methods on the slice shown (in a worker); returns the worker,
        None when nothing can run (the reason shown)."""
        if self.worker is not None or not self._life.alive:
            return None
        try:
            job = self._prepare()
        except ValueError as exc:
            show_error(f"Compare: {exc}")
            self.status.value = str(exc)
            return None
        self._pending = job
        self._cancel = threading.Event()
        worker = create_worker(
            compare_iter, job["plane"], job["methods"], rgb=job["rgb"],
            reference=job["reference"], score=bool(self.score_box.value),
            device=self.device.value or "auto", cancel=self._cancel, _start_thread=False,
            _connect=self._life.callbacks({
                "yielded": self._on_progress, "returned": self._on_returned,
                "errored": self._on_errored, "aborted": self._on_aborted,
                "finished": self._on_finished}))
        self.worker = worker
        self.run_button.enabled, self.cancel_button.enabled = False, True
        self.progress_bar.value = 0
        self.status.value = f"Comparing {len(job['methods'])} methods on {job['where']}..."
        return self._life.start(worker)

    def _prepare(self) -> dict:
        layer = self.image_layer.value
        if layer is None:
            raise ValueError("add an image layer to compare methods on")
        methods = self.chosen_methods()
        if not methods:
            raise ValueError("tick at least one method")
        index, disp = current_slice(self._viewer, layer, COMPARE_MAX_PIXELS)
        data = layer_data(layer)
        plane = take_plane(data, index, disp, copy=True)
        ref = self.reference.value
        ref_plane = None
        if ref is not None:
            check_reference(layer_data(ref).shape, data.shape)
            ref_plane = take_plane(layer_data(ref), index, disp, np.float32)
        where = slice_label(index, layer_axes(layer)) or "the image"
        if any(isinstance(i, slice) and (i.start or i.stop) for i in index):
            where += " (the part in view)"
        return dict(layer=layer, plane=plane, methods=methods, rgb=bool(layer.rgb),
                    reference=ref_plane, ref_name=None if ref is None else ref.name,
                    where=where, props=plane_props(layer_props(layer), index, disp))

    def cancel(self, value=None):
        """Stop the comparison; nothing is added."""
        if self._cancel is not None:
            self._cancel.set()
        if self.worker is not None:
            self.worker.quit()
            try:
                self.status.value = "Cancelling..."
            except RuntimeError:  # the panel's widgets were deleted (closing)
                pass

    # -- worker callbacks (main thread) --------------------------------------------------

    def _on_progress(self, p):
        self.progress_bar.value = int(round(1000 * p.fraction))
        self.status.value = progress_text(p)

    def _on_returned(self, results):
        job, self._pending = self._pending, None
        if job is None or results is None:
            return
        self.results = results
        cols, rows = table(results, job["reference"] is not None)
        self.table.value = {"data": rows, "index": list(range(1, len(rows) + 1)),
                            "columns": cols}
        self.table.native.resizeColumnsToContents()
        if job["layer"] not in self._viewer.layers:
            self.status.value = "The image was removed meanwhile: nothing shown."
            return
        self._place(job, results)
        ran = [r for r in results if not r.error]
        self.progress_bar.value = 1000
        self.status.value = (f"Compared {len(ran)} of {len(results)} methods on "
                             f"{job['where']}: results right of the image, residuals "
                             f"(image minus result) under them.")

    def _place(self, job, results) -> None:
        """The results in a row right of the input, their residuals under them; the
        last comparison's layers go first."""
        layers = self._viewer.layers
        for lay in self.shown:
            if lay in layers:
                layers.remove(lay)
        self.shown = []
        props, name = job["props"], job["layer"].name
        where = "" if job["where"] == "the image" else f" {job['where']}"
        base = dict(props, metadata={})
        for k, r in enumerate(r for r in results if not r.error):
            at, below = side_by_side(k, r.output.shape[:2], props["scale"], props["translate"])
            meta = {"napari_denoise": {"compare_of": name, "method": r.method,
                                       "model": r.model, "plane": job["where"]}}
            out = self._viewer.add_image(r.output, name=f"{name}{where}: {r.label}",
                                         **dict(base, translate=at, metadata=meta))
            res = r.residual.mean(-1) if job["rgb"] else r.residual
            rprops = {k2: v for k2, v in base.items() if k2 not in ("rgb", "colormap")}
            rprops.update(translate=below, colormap="gray",
                          contrast_limits=residual_limits(res),
                          metadata={"napari_denoise": dict(meta["napari_denoise"],
                                                           residual=True)})
            resid = self._viewer.add_image(res, name=f"{name}{where}: {r.label} residual",
                                           **rprops)
            self.shown += [out, resid]
        self._viewer.reset_view()

    def _on_errored(self, exc):
        if isinstance(exc, Cancelled):
            self._on_aborted()
            return
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        show_error(f"Compare failed: {msg}")
        self.status.value = f"Failed: {msg}"

    def _on_aborted(self):
        self._pending = None
        self.status.value = "Cancelled: nothing was added."
        self.progress_bar.value = 0

    def _on_finished(self):
        self.worker = None
        self._pending = None
        try:
            self.run_button.enabled, self.cancel_button.enabled = True, False
        except RuntimeError:  # deleted meanwhile
            pass

    def _on_close(self) -> None:
        """The panel closed: stop the comparison (nothing is added)."""
        self._pending = None
        self.cancel()


__all__ = ["CompareWidget"]
