"""The Denoise widget's results: keep one, or copy what repeats it.

Every run's output layer holds its settings in ``metadata["napari_denoise"]["settings"]``
(:func:`~.run_record.run_record`). A run replaces ``<image>_denoised``; **Keep** renames
the last result after its settings (``"stack denoised (bm3d, sigma 12.5)"``) so the next
run adds a new layer beside it. **Copy as command line** and **Copy as Python** put on
the clipboard a ``napari-denoise denoise`` command or a ``napari_denoise.denoise`` call
with the same arguments as the last run (:mod:`.run_record`), which give the same
array.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error

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

    def _remember(self, layer, map_layer, record: dict, output) -> None:
        """A run of ``layer`` (with ``map_layer`` in map mode) put ``output``."""
        self.last_run = LastRun(layer.name, layer_file(layer),
                                None if map_layer is None else map_layer.name,
                                None if map_layer is None else layer_file(map_layer),
                                record, output)
        for b in (self.keep_button, self.copy_command_button, self.copy_python_button):
            b.enabled = True

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
