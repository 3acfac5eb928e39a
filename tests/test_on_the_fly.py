"""Denoising on the fly: an array that denoises a plane when it is read (core), and the
napari layer built on it, which denoises only the planes the viewer shows."""

import numpy as np
import pytest

import napari_denoise as nd
from napari_denoise.core.plane_view import DenoisedPlanes


def _stack(shape=(6, 40, 48), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[-2], :shape[-1]]
    base = 300 + 200 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    return rng.poisson(np.broadcast_to(base, shape)).astype(np.uint16)


def test_planes_are_denoised_when_read_and_equal_the_whole_run():
    img = _stack()
    view = DenoisedPlanes(img, "tv", axes="ZYX")
    assert view.computed == 0 and view.shape == img.shape and view.dtype == img.dtype
    full = nd.denoise(img, "tv", axes="ZYX")
    np.testing.assert_array_equal(view[3], full[3])
    np.testing.assert_array_equal(view[3, 5:9, ::2], full[3, 5:9, ::2])  # cached
    assert view.computed == 1
    np.testing.assert_array_equal(view[1:5:2], full[1:5:2])
    assert view.computed == 2  # plane 3 was kept
    np.testing.assert_array_equal(np.asarray(view), full)


def test_channel_axes_keep_their_place():
    img = np.moveaxis(_stack((4, 3, 32, 40), seed=1), 1, 0).copy()  # C, Z, Y, X
    view = DenoisedPlanes(img, "tv", axes="CZYX")
    full = nd.denoise(img, "tv", axes="CZYX")
    np.testing.assert_array_equal(view[:, 2], full[:, 2])
    np.testing.assert_array_equal(view[1, :, 4], full[1, :, 4])
    assert view.computed == 4  # the four Z planes, each with its three channels


def test_refusals_are_clear():
    img = _stack()
    with pytest.raises(nd.DenoiseError, match="noise map"):
        DenoisedPlanes(img, "tv", axes="ZYX", sigma=np.ones(img.shape, np.float32))
    with pytest.raises(nd.DenoiseError, match="plane by plane means 2-D"):
        DenoisedPlanes(img, "tv", axes="ZYX", mode="3d")


@pytest.mark.gui
def test_the_layer_denoises_only_the_planes_shown(make_napari_viewer, plugin, qtbot):
    pytest.importorskip("pytestqt")
    from napari_denoise._widgets import DenoiseWidget

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    assert isinstance(widget, DenoiseWidget)
    img = _stack((8, 40, 48), seed=2)
    viewer.add_image(img, name="stack", scale=(2.0, 0.5, 0.5))
    widget.image_layer.value = viewer.layers["stack"]
    widget.method.value = "tv"
    viewer.dims.set_current_step(0, 4)
    worker = widget.on_the_fly()
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    layer = viewer.layers["stack_denoised (on the fly)"]
    view = layer.data
    assert isinstance(view, DenoisedPlanes)
    assert 1 <= view.computed <= 2  # the plane shown (napari may read it twice)
    full = nd.denoise(img, "tv", axes="ZYX")
    shown = view.computed
    viewer.dims.set_current_step(0, 6)
    assert view.computed == shown + 1
    np.testing.assert_array_equal(np.asarray(layer._slice.image.raw), full[6])
    assert tuple(layer.scale) == (2.0, 0.5, 0.5)
    assert np.array_equal(viewer.layers["stack"].data, img)  # input untouched


@pytest.mark.gui
def test_a_layer_too_big_for_memory_runs_into_a_store(make_napari_viewer, plugin, qtbot,
                                                      monkeypatch):
    import dask.array as da

    from napari_denoise._widgets import DenoiseWidget, big_run
    from conftest import run_and_wait

    monkeypatch.setattr(big_run, "available_memory", lambda: 1000)  # everything is big
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-denoise", "Denoise")
    assert isinstance(widget, DenoiseWidget)
    img = _stack((5, 40, 48), seed=3)
    pyramid = [da.from_array(img, chunks=(1, 40, 48)), da.from_array(img[:, ::2, ::2])]
    viewer.add_image(pyramid, name="big", multiscale=True)
    widget.image_layer.value = viewer.layers["big"]
    widget.method.value = "tv"
    run_and_wait(qtbot, widget)
    out = viewer.layers["big_denoised"]
    assert not isinstance(out.data, np.ndarray)  # lazy, read from the store
    np.testing.assert_array_equal(np.asarray(out.data), nd.denoise(img, "tv", axes="ZYX"))
    stores = list(big_run.results_dir().glob("big_denoised*.ome.zarr"))
    assert len(stores) == 1

    # cancelled at the first progress report: no layer, no store
    viewer.layers.remove("big_denoised")
    orig = DenoiseWidget._on_progress

    def cancel_at_once(self, p):
        orig(self, p)
        self.cancel()

    # on the class: magicgui takes deleting an attribute of the panel for removing a control
    monkeypatch.setattr(DenoiseWidget, "_on_progress", cancel_at_once)
    worker = widget.run()
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    assert "big_denoised" not in viewer.layers
    assert list(big_run.results_dir().glob("big_denoised*.ome.zarr")) == stores
