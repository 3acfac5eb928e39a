"""The Denoise widget's results: keep one, compare it with its input, save it, or copy
what repeats it.

Every run's output layer holds its settings in ``metadata["napari_denoise"]["settings"]``
(:func:`~.run_record.run_record`). A run replaces ``<image>_denoised``; **Keep** renames
the last result after its settings (``"stack denoised (bm3d, sigma 12.5)"``) so the next
run adds a new layer beside it. **Show the input** (Alt+B on the canvas) hides the
result to show its input under it, and back. **Save result...** writes the result
with the input's pixel size, units and axes and the run's settings
(:func:`napari_denoise.io.save.save_result`: TIFF, OME-TIFF or OME-Zarr, atomically).
**Copy as command line** and **Copy as Python** put on
the clipboard a ``napari-denoise denoise`` command or a ``napari_denoise.denoise`` call
with the same arguments as the last run (:mod:`.run_record`), which give the same
array.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error

from ..io.save import SAVE_FILTERS, save_result
from ._layers import layer_axes
from .denoise_inputs import DenoiseInputs
from .run_record import command_line, kept_name, python_snippet


@dataclass
class LastRun:
    """What the widget knows of its last run."""

    layer_name: str        # the input layer
    source: str | None     # the file the input was opened from, if any
    map_name: str | None   # the noise-map layer (map mode)
    map_source: str | None
    record: dict           # its settings (run_record)
    output: Any            # the output layer
    kept: bool = False


#: the key that flips between the result and its input on the canvas
COMPARE_KEY = "Alt-B"


def layer_file(layer) -> str | None:
    """The file a layer was opened from, if napari knows it."""
    path = getattr(getattr(layer, "source", None), "path", None)
    return str(path) if path else None


class DenoiseResults(DenoiseInputs):
    """The Denoise widget's controls, inputs, and its last result."""

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        self.last_run: LastRun | None = None
        self.keep_button.changed.connect(self.keep)
        self.copy_command_button.changed.connect(self.copy_command)
        self.copy_python_button.changed.connect(self.copy_python)
        self.save_button.changed.connect(self._ask_save)
        self.compare_input.changed.connect(self._show_compare)
        self._viewer.bind_key(COMPARE_KEY, self._flip_compare, overwrite=True)

    def _on_close(self) -> None:
        super()._on_close()
        try:
            self._viewer.bind_key(COMPARE_KEY, None)
        except (KeyError, RuntimeError, ValueError):
            pass

    def _remember(self, layer, map_layer, record: dict, output) -> None:
        """A run of ``layer`` (with ``map_layer`` in map mode) put ``output``."""
        self.last_run = LastRun(layer.name, layer_file(layer),
                                None if map_layer is None else map_layer.name,
                                None if map_layer is None else layer_file(map_layer),
                                record, output)
        for b in (self.keep_button, self.copy_command_button, self.copy_python_button,
                  self.save_button, self.compare_input):
            b.enabled = True
        if self.compare_input.value:  # a new result is shown, not its input
            self.compare_input.value = False

    # -- before / after -------------------------------------------------------------------

    def _result_and_input(self):
        """(last result, its input) while both are in the viewer, else (None, None)."""
        last = self.last_run
        layers = self._viewer.layers
        if last is None or last.output not in layers:
            return None, None
        inp = next((lay for lay in layers if lay.name == last.layer_name), None)
        return last.output, inp

    def _show_compare(self, value=None) -> None:
        """Show the input (result hidden) when the box is ticked, else the result."""
        out, inp = self._result_and_input()
        if out is None:
            return
        show_input = bool(self.compare_input.value)
        out.visible = not show_input
        if inp is not None and show_input:
            inp.visible = True
        self.status.value = (f"Showing the input '{inp.name if inp is not None else '?'}'; "
                             f"Alt+B shows the result '{out.name}'" if show_input else
                             f"Showing the result '{out.name}'; Alt+B shows the input")

    def _flip_compare(self, viewer=None) -> None:
        """Alt+B on the canvas: flip between the result and its input."""
        if self._life.alive and self.compare_input.enabled:
            self.compare_input.value = not self.compare_input.value

    # -- save ----------------------------------------------------------------------------

    def _ask_save(self, value=None):
        """Ask for a file name, then :meth:`save`."""
        out, _ = self._result_and_input()
        if out is None:
            return self.save(None)
        from qtpy.QtWidgets import QFileDialog

        last = self.last_run
        start = Path(last.source).with_name(f"{Path(last.source).stem}_denoised.tif") \
            if last.source else Path.home() / f"{last.layer_name}_denoised.tif"
        path, _ = QFileDialog.getSaveFileName(self.native, "Save result", str(start),
                                              ";;".join(SAVE_FILTERS))
        return self.save(path) if path else None

    def save(self, path) -> Path | None:
        """Write the last result to ``path`` (format from its name) with the input's
        pixel size, units and axes and the run's settings. Returns the path written,
        None when nothing was written (the reason shown)."""
        out, _ = self._result_and_input()
        if out is None or path is None:
            show_error("Nothing to save: run Denoise first (a removed result cannot be saved)")
            return None
        info = out.metadata.get("napari_denoise") or {}
        settings = dict(info.get("settings") or {}, input=self.last_run.layer_name)
        try:
            written = save_result(path, out.data, axes=layer_axes(out),
                                  scale=tuple(out.scale), units=tuple(out.units),
                                  settings=settings)
        except (ValueError, OSError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            show_error(f"Saving '{out.name}' failed: {msg}")
            self.status.value = f"Not saved: {msg}"
            return None
        self.status.value = f"Saved '{out.name}' to {written}"
        return written

    def keep(self, value=None):
        """Rename the last result after its settings: the next run does not replace it.
        Returns the kept layer (None when there is none to keep)."""
        last = self.last_run
        if last is None or last.kept or last.output not in self._viewer.layers:
            show_error("Nothing to keep: run Denoise first (a kept or removed result "
                       "cannot be kept again)")
            return None
        out = last.output
        out.name = kept_name(last.layer_name, last.record)
        out.metadata.setdefault("napari_denoise", {})["kept"] = True
        last.kept = True
        self.keep_button.enabled = False
        self.status.value = f"Kept as '{out.name}'; the next run adds a new layer."
        return out

    def command_text(self) -> str | None:
        """The command line that repeats the last run (None before any run)."""
        last = self.last_run
        if last is None:
            return None
        src = last.source or f"{last.layer_name}.tif"
        p = Path(src)
        dst = str(p.with_name(f"{p.stem}_denoised{p.suffix or '.tif'}"))
        map_path = last.map_source or (f"{last.map_name}.tif" if last.map_name else None)
        return command_line(last.record, src, dst, map_path)

    def python_text(self) -> str | None:
        """The Python that repeats the last run (None before any run)."""
        last = self.last_run
        if last is None:
            return None
        return python_snippet(last.record, last.layer_name, last.map_name)

    def copy_command(self, value=None) -> str | None:
        """Put the command line that repeats the last run on the clipboard."""
        text = self._copy(self.command_text())
        if text is not None:
            last = self.last_run
            files = [n for n, s in ((last.layer_name, last.source),
                                    (last.map_name, last.map_source)) if n and not s]
            self.status.value = "Copied the command line." + (
                f" Save {' and '.join(repr(n) for n in files)} as TIFF first (the names "
                "in the command)." if files else "")
        return text

    def copy_python(self, value=None) -> str | None:
        """Put the Python that repeats the last run on the clipboard."""
        text = self._copy(self.python_text())
        if text is not None:
            self.status.value = "Copied the Python code (image: the layer's array)."
        return text

    def _copy(self, text: str | None) -> str | None:
        if text is None:
            show_error("Nothing to copy: run Denoise first")
            return None
        from qtpy.QtWidgets import QApplication

        QApplication.clipboard().setText(text)
        return text
