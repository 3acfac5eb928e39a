"""Previews in the Denoise dock widget: the current slice, the visible region of a big
one, the noise map's slice, and a preview cancelled when the slice changes (needs a
display: run under xvfb-run)."""

from __future__ import annotations

import numpy as np

import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

import napari_denoise  # noqa: E402

from widget_support import (_interrupt_after_first_tile, _noisy, _wait,  # noqa: E402,F401
                            notes, tiny_user_model, viewer_widget)

pytestmark = pytest.mark.gui


def _previews(viewer):
    """The preview layers in the viewer."""
    return [lay for lay in viewer.layers
            if lay.metadata.get("napari_denoise", {}).get("preview")]


def test_preview_current_slice_into_preview_layer(viewer_widget, qtbot, notes, tiny_user_model):
    viewer, w = viewer_widget
    stack = _noisy((5, 64, 48), np.uint8)
    layer = viewer.add_image(stack, name="stack", scale=(3, 2, 2), translate=(0, 10, 20))
    w.image_layer.value = layer
    w.noise_mode.value = "manual"
    w.sigma_value.value = 12.5
    viewer.dims.set_current_step(0, 2)
    _wait(qtbot, w, w.preview)
    # the name says which slice and which settings
    prev = viewer.layers["stack preview, Z 2 (tiny, sigma 12.5)"]
    assert _previews(viewer) == [prev]
    assert prev.data.shape == (64, 48) and prev.data.dtype == np.uint8
    np.testing.assert_allclose(prev.scale, (2, 2))
    np.testing.assert_allclose(prev.translate, (10, 20))
    expected = napari_denoise.denoise(stack[2], model=tiny_user_model, axes="YX", sigma=12.5)
    np.testing.assert_array_equal(prev.data, expected)
    # another slice: the preview of slice 2 is gone at once, not shown over slice 4
    viewer.dims.set_current_step(0, 4)
    assert prev not in viewer.layers and not _previews(viewer)
    assert w.image_layer.value is layer
    # previewing again previews slice 4, in one preview layer
    _wait(qtbot, w, w.preview)
    prev = viewer.layers["stack preview, Z 4 (tiny, sigma 12.5)"]
    assert _previews(viewer) == [prev]
    np.testing.assert_array_equal(prev.data, napari_denoise.denoise(
        stack[4], model=tiny_user_model, axes="YX", sigma=12.5))
    # other settings, same slice: the same layer, renamed and updated in place
    w.strength.value = 1.5
    _wait(qtbot, w, w.preview)
    assert _previews(viewer) == [prev] and prev.name == \
        "stack preview, Z 4 (tiny, sigma 12.5, strength 1.5)"
    assert "stack_denoised" not in viewer.layers and not notes["error"]
    # RGB: a (Y, X, 3) slice; a 2-D image has no slice to name
    rgb = viewer.add_image(_noisy((48, 40, 3)), name="rgb", rgb=True)
    w.image_layer.value = rgb
    _wait(qtbot, w, w.preview)
    prev = viewer.layers["rgb preview (tiny, sigma 12.5, strength 1.5)"]
    assert prev.rgb and prev.data.shape == (48, 40, 3) and prev.data.dtype == np.uint8
    viewer.dims.set_current_step(0, 1)  # the 2-D image's plane is the same
    assert prev in viewer.layers


def test_a_preview_in_flight_is_cancelled_when_the_slice_changes(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    seen = _interrupt_after_first_tile(qtbot, viewer, w, 3, w.preview,
                                       lambda: viewer.dims.set_current_step(0, 2))
    assert seen and seen[-1].done < seen[-1].total
    assert not _previews(viewer) and not notes["error"]
    assert w.status.value == "The slice changed: preview cancelled."
    assert w.preview_button.enabled and not w.cancel_button.enabled


def test_preview_big_slice_uses_visible_region(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    layer = viewer.add_image(_noisy((128, 128)), name="img", scale=(2, 2))
    w.image_layer.value = layer
    w.preview_max_pixels = 64 * 64  # "big" for this test
    layer.corner_pixels = np.array([[40, 50], [80, 100]])  # what the canvas shows
    _wait(qtbot, w, w.preview)
    [prev] = _previews(viewer)
    assert prev.name.startswith("img preview (tiny, ")
    # the visible region plus a 32-pixel margin, clipped to the image
    assert prev.data.shape == (105, 110)  # rows 8:113, columns 18:128
    np.testing.assert_allclose(prev.translate, (2 * 8, 2 * 18))
    assert not notes["error"]


def test_preview_in_map_mode_takes_the_maps_slice(viewer_widget, qtbot, notes):
    viewer, w = viewer_widget
    w.method.value = "tv"
    stack = _noisy((3, 48, 40), np.float32)
    layer = viewer.add_image(stack, name="stack")
    smap = np.stack([np.full((48, 40), v, np.float32) for v in (0.01, 0.05, 0.2)])
    noise_map = viewer.add_image(smap, name="map")
    w.image_layer.value = layer
    w.noise_mode.value = "map"
    w.noise_map.value = noise_map
    viewer.dims.set_current_step(0, 2)
    _wait(qtbot, w, w.preview)
    assert not notes["error"], notes["error"]
    prev = viewer.layers["stack preview, Z 2 (tv, noise map)"]
    info = prev.metadata["napari_denoise"]
    assert info["preview"] is True and info["sigma"] == "per-pixel map (mean 0.2)"
    expected = napari_denoise.denoise(stack[2], model="tv", sigma=smap[2], axes="YX")
    np.testing.assert_array_equal(prev.data, expected)
