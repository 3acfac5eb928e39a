"""File dialogs of the panels' model import and export (Qt); what happens to the files
is in the core (:mod:`napari_denoise.core.export`)."""

from __future__ import annotations

PACKAGE_FILTER = "BioImage Model Zoo package (*.zip rdf.yaml bioimageio.yaml *.yaml)"
EXPORT_FILTERS = {"BioImage Model Zoo package (*.zip)": ".zip", "ONNX (*.onnx)": ".onnx",
                  "TorchScript (*.pt)": ".pt"}


def ask_package_path(parent=None) -> str | None:
    """A package chosen in a file dialog, or None."""
    from qtpy.QtWidgets import QFileDialog

    path, _ = QFileDialog.getOpenFileName(parent, "Import a model package", "", PACKAGE_FILTER)
    return path or None


def ask_export_path(parent=None, name: str = "model") -> str | None:
    """Where to export, chosen in a save dialog (the format from the filter), or None."""
    from qtpy.QtWidgets import QFileDialog

    filters = ";;".join(EXPORT_FILTERS)
    path, chosen = QFileDialog.getSaveFileName(parent, "Export the model", f"{name}.zip",
                                               filters)
    if not path:
        return None
    suffix = EXPORT_FILTERS.get(chosen, "")
    if suffix and not path.lower().endswith(suffix):
        path += suffix
    return path
