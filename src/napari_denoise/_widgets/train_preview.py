"""The Train widget's previews: the slice shown, denoised now and then by the model
being trained.

The main thread copies the slice shown (:meth:`TrainPreviews._request_preview`) for the
worker, which denoises it between training steps
(:func:`~.train_worker.make_preview`); the result comes back through the worker's
``yielded`` signal and is shown by :meth:`TrainPreviews._show_preview` in a layer
named after the plane and the training step. The preview follows the slice
(:mod:`.slice_preview`): when another plane is shown the preview is removed and one of
the new plane is asked for at once; a preview of a plane no longer shown is dropped.

The panel's :class:`~._lifetime.Lifetime` is made here, as the previews follow the
viewer's dims for as long as the panel lives.
"""

from __future__ import annotations

import logging

from qtpy.QtCore import QTimer

from ._layers import current_slice, layer_axes, layer_props, plane_props, take_plane
from ._lifetime import Lifetime
from .run_record import slice_label
from .slice_preview import SlicePreviews
from .train_controls import TrainControls
from .train_worker import PreviewRequest, TrainJob

logger = logging.getLogger(__name__)

#: crops of big slices are kept on dims where the visible region is at least this long
PREVIEW_MIN_SIDE = 16


class TrainPreviews(TrainControls):
    """The Train widget's controls, with previews of the training's slice shown."""

    #: seconds of training between two previews of the slice shown
    preview_interval = 5.0
    #: slices with more pixels than this are previewed on their visible region only
    preview_max_pixels = 1024 * 1024

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        self._job: TrainJob | None = None
        self._life = Lifetime(self.native, self._on_close, self._after_close)
        self._previews = SlicePreviews(self._viewer, self._life, self._on_slice_changed)
        # a child of the widget: it goes with it
        self._preview_timer = QTimer(self.native)
        self._preview_timer.timeout.connect(self._request_preview)

    def _on_close(self) -> None:  # the Train widget's
        pass

    def _after_close(self, ended: bool) -> None:  # the Train widget's
        pass

    def _on_slice_changed(self) -> None:
        """Another plane is shown (its stale preview was removed): preview it soon."""
        if self._job is not None:
            self._request_preview()

    def _request_preview(self, initial: bool = False):
        """Copy the slice shown for the worker to preview (``initial``: the final one)."""
        job = self._job
        if job is None or job.layer is None or job.layer not in self._viewer.layers:
            return
        layer = job.layer
        try:
            index, disp = current_slice(self._viewer, layer, self.preview_max_pixels,
                                        min_side=PREVIEW_MIN_SIDE)
            plane = take_plane(layer.data, index, disp, copy=True)
            props = plane_props(layer_props(layer), index, disp)
            key, where = self._previews.key(layer), slice_label(index, layer_axes(layer))
        except Exception as exc:  # noqa: BLE001 - a preview must never stop training
            logger.debug("no preview: %s", exc)
            return
        if min(plane.shape[:2]) < 8:
            return
        job.ask_preview(PreviewRequest(plane, "YXC" if layer.rgb else "YX", props, key, where),
                        final_only=initial)

    def _show_preview(self, job: TrainJob, preview: dict):
        """Show a preview of the plane still shown (else drop it: one of the plane shown
        now is on its way) as ``"<layer> training preview, Z 5 (step 120)"``."""
        if job.layer is None or not self._previews.is_current(job.layer, preview["key"]):
            return
        meta = {"napari_denoise": {"preview": True, "n2n": True, "step": preview["step"],
                                   "best_step": preview["best_step"]}}
        where = f", {preview['where']}" if preview["where"] else ""
        best = preview["best_step"]
        model = f"step {preview['step']}" + ("" if best is None or best == preview["step"]
                                             else f", best model: step {best}")
        self._previews.place(job.layer, preview["key"],
                             f"{job.layer.name} training preview{where} ({model})",
                             preview["image"], dict(preview["props"], metadata=meta))
