"""The Denoise panel's "On the fly" button: a layer that denoises the plane shown.

The layer's data is a :class:`~napari_denoise.core.plane_view.DenoisedPlanes`: napari
reads the plane it displays, which is denoised then (and kept for the last few planes
visited), so a stack of any length, or a lazy (dask, zarr) or multiscale layer at its
full resolution, costs one plane per slice the user looks at. The value range and
noise level are fixed first, from sample planes, in a worker thread; the layer is
added when they are known. The rules are the core's; this module only binds them.
"""

from __future__ import annotations

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info

from ..core.errors import DenoiseError
from ._layers import layer_data, layer_props
from .settings import check_input

SUFFIX = "_denoised (on the fly)"


def on_the_fly_kwargs(settings) -> dict:
    """The engine keyword arguments of a plane-by-plane layer, or a DenoiseError."""
    kwargs = settings.engine_kwargs()
    if kwargs.pop("tune", False):
        raise DenoiseError("'Choose the strength on the image' needs a whole run: untick it "
                           "for on-the-fly denoising")
    if settings.noise_mode == "map":
        raise DenoiseError("on the fly takes one noise level or the automatic estimate, not "
                           "a noise map")
    if kwargs.get("mode") == "3d":
        raise DenoiseError("on the fly denoises plane by plane: choose 2-D processing")
    kwargs.pop("tile", None)
    return kwargs


def _build(image, kwargs):
    from ..core.plane_view import DenoisedPlanes

    return DenoisedPlanes(image, **kwargs)


def start_on_the_fly(widget):
    """Button callback: build the view in a worker, then add its layer."""
    layer = widget.image_layer.value
    try:
        if layer is None:
            raise DenoiseError("choose an image layer to denoise")
        image = layer_data(layer, multiscale=True)
        kwargs = on_the_fly_kwargs(widget.settings())
        check_input(image, kwargs, rgb=layer.rgb)
    except DenoiseError as exc:
        show_error(f"Cannot denoise '{layer.name}' on the fly: {exc}" if layer else str(exc))
        return None
    props = layer_props(layer)
    name = f"{layer.name}{SUFFIX}"
    widget.status.value = "On the fly: fixing the value range and noise level..."

    def added(view):
        viewer = widget._viewer
        if name in viewer.layers:
            viewer.layers.remove(name)
        props["metadata"] = dict(props["metadata"], napari_denoise={
            "on_the_fly": True, "model": str(kwargs.get("model")),
            "sigma": _text(view.settings["sigma"]), "range": list(view.settings["data_range"])})
        viewer.add_image(view, name=name, **props)
        widget.status.value = ("On the fly: each plane is denoised when it is shown "
                               f"({view.computed} so far)")
        show_info(f"{name}: each plane is denoised when shown; Run denoises the whole layer")

    def failed(exc):
        widget.status.value = f"On the fly failed: {exc}"
        show_error(f"Cannot denoise '{layer.name}' on the fly: {exc}")

    worker = create_worker(_build, image, kwargs, _start_thread=False,
                           _connect=widget._life.callbacks({"returned": added,
                                                            "errored": failed}))
    return widget._life.start(worker)


def _text(sigma) -> str:
    return f"{sigma:g}" if isinstance(sigma, (int, float)) else str(sigma)
