"""The Noise map widget's rules (sampling, memory, accepted input, edits, the thread
work), without Qt, napari or a display."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from napari_denoise._widgets import noise_map_rules as rules
from napari_denoise.core.noise import NoiseEstimate
from conftest import assert_widget_modules_import_no_gui


def _layer(data, name="img", multiscale=False, rgb=False):
    return SimpleNamespace(name=name, data=data, multiscale=multiscale, rgb=rgb)


def test_rules_module_imports_no_qt_napari_or_torch():
    assert_widget_modules_import_no_gui("noise_map_rules")


# -- sampling and memory --------------------------------------------------------------------

def test_big_and_lazy_arrays_are_sampled():
    small = np.zeros((4, 8, 8), np.float32)
    assert not rules.should_sample(small)
    assert rules.should_sample(small, sample_above=small.size - 1)
    assert not rules.should_sample(small, sample_above=small.size)

    class Lazy:  # any array that is not numpy (dask, zarr, ...)
        shape, dtype, size = (2, 4, 4), np.dtype("f4"), 32

    assert rules.should_sample(Lazy())


def test_map_bytes_per_element_depend_on_the_source():
    shape = (10, 20)
    assert rules.map_bytes(shape) == 200 * rules.LAYER_MAP_BYTES == 1600
    pg = NoiseEstimate.poisson_gaussian(0.01, 1e-3)
    assert rules.map_bytes(shape, pg) == 200 * rules.MODEL_MAP_BYTES == 5600
    flat = NoiseEstimate.poisson_gaussian(0.0, 1e-3)
    assert rules.map_bytes(shape, flat) == 200 * rules.GAUSSIAN_MAP_BYTES == 800
    # no overflow for shapes beyond int64 products of small ints
    assert rules.map_bytes((100_000, 100_000, 1000)) == pytest.approx(8e13)


def test_map_budget_is_a_fraction_of_the_memory_capped():
    assert rules.map_budget(0.5, available=1000) == 500
    assert rules.map_budget(0.5, cap=100, available=1000) == 100
    assert rules.map_budget(0.5, cap=1e9, available=1000) == 500
    assert rules.MEMORY_FRACTION == 0.5
    assert rules.map_budget() == pytest.approx(0.5 * rules.available_memory(), rel=0.5)


def test_available_memory_falls_back_without_psutil_or_sysconf(monkeypatch):
    assert rules.available_memory() > 0
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil fails
    assert rules.available_memory() > 0

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(rules.os, "sysconf", no_sysconf)
    assert rules.available_memory() == rules.FALLBACK_MEMORY


def test_a_map_too_big_is_refused_with_what_to_do_instead():
    assert rules.map_too_big("big", (64, 64), need=1000, budget=1000, model=None) is None
    msg = rules.map_too_big("big", (64, 64), need=2048 * 1024, budget=1000,
                            model="gaussian")
    assert "'big' (64, 64) is not computed" in msg
    assert "2.0 MB" in msg and "1000 bytes" in msg and "'gaussian' noise model" in msg
    msg = rules.map_too_big("big", (64, 64), need=2000, budget=1000, model=None)
    assert "'poisson-gaussian' noise model" in msg


def test_formats():
    assert rules.format_value(0.0123456789) == "0.0123457"
    assert rules.format_bytes(512) == "512 bytes"
    assert rules.format_bytes(1536) == "1.5 KB"
    assert rules.format_bytes(3 * 1024**3) == "3.0 GB"
    assert rules.format_bytes(5 * 1024**5) == "5120.0 TB"


# -- accepted input ---------------------------------------------------------------------------

def test_layers_and_axes_that_are_refused():
    rules.check_layer(_layer(np.zeros((8, 8), np.uint16)))
    with pytest.raises(ValueError, match="choose an image layer"):
        rules.check_layer(None)
    with pytest.raises(ValueError, match="multiscale"):
        rules.check_layer(_layer(np.zeros((8, 8)), multiscale=True))
    with pytest.raises(ValueError, match="data type complex"):
        rules.check_layer(_layer(np.zeros((8, 8), np.complex64)))
    img = _layer(np.zeros((3, 8, 8)))
    assert rules.read_axes("zyx", img) == "ZYX"
    with pytest.raises(ValueError, match=r"'img' has shape \(3, 8, 8\)"):
        rules.read_axes("YX", img)
    with pytest.raises(ValueError, match="RGB"):
        rules.check_mappable(_layer(np.zeros((8, 8, 3)), rgb=True))
    rules.check_mappable(img)


def test_map_source_must_have_the_input_shape():
    img = _layer(np.zeros((8, 8)))
    rules.check_map_source(img, _layer(np.ones((8, 8)), name="paint"))
    with pytest.raises(ValueError, match="choose a map layer"):
        rules.check_map_source(img, None)
    with pytest.raises(ValueError, match=r"'paint' has shape \(4, 4\)"):
        rules.check_map_source(img, _layer(np.ones((4, 4)), name="paint"))
    est = NoiseEstimate.poisson_gaussian(0.01, 1e-3)
    assert rules.require_estimate(img, est) is est
    with pytest.raises(ValueError, match="estimate the noise of 'img' first"):
        rules.require_estimate(img, None)


def test_edited_gain_and_offset():
    pts = np.array([[0.1, 0.002, 10], [0.5, 0.006, 10]])
    old = NoiseEstimate.poisson_gaussian(0.01, 0.001, points=pts)
    assert rules.edited_estimate(old, "", "  ") is None  # nothing typed
    # the values shown (6 significant digits) are no edit
    assert rules.edited_estimate(old, rules.format_value(old.a), "0.001") is None
    new = rules.edited_estimate(old, " 0.02 ", "0.001")
    assert (new.source, new.model) == ("edited", "poisson-gaussian")
    assert (new.a, new.b) == pytest.approx((0.02, 0.001))
    np.testing.assert_array_equal(new.points, pts)  # the plot keeps the fitted points
    only_b = rules.edited_estimate(None, "", "1e-3")  # an empty field is 0
    assert (only_b.a, only_b.b) == pytest.approx((0.0, 1e-3)) and only_b.points is None
    with pytest.raises(ValueError):
        rules.edited_estimate(old, "not a number", "0.001")


# -- the thread work and the map layer's record ----------------------------------------------

def test_fit_noise_on_all_or_a_few_planes():
    rng = np.random.default_rng(0)
    stack = (0.5 + rng.normal(0, 0.05, (12, 64, 64))).astype(np.float32)
    whole = rules.fit_noise(stack, "ZYX", "gaussian", sample=False)
    few = rules.fit_noise(stack, "ZYX", "gaussian", sample=True)
    assert whole.sigma == pytest.approx(0.05, rel=0.2)
    assert few.sigma == pytest.approx(0.05, rel=0.2)
    flat = rules.fit_noise(np.full((64, 64), 0.5, np.float32), "YX", "auto", sample=False)
    assert "constant" in flat.message  # a fallback: a message, no warning raised


def test_model_and_layer_maps():
    est = NoiseEstimate.poisson_gaussian(0.01, 1e-3)
    img = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    np.testing.assert_allclose(rules.model_map(est, img, "YX", 2.0),
                               est.sigma_map(img, axes="YX", strength=2.0))
    painted = np.full((4, 4), 0.1, np.float64)
    out = rules.layer_map(painted, 1.5)
    assert out.dtype == np.float32 and np.allclose(out, 0.15)
    assert np.all(painted == 0.1)  # the source is never modified
    assert rules.layer_map(painted, 1.0) is not painted
    with pytest.raises(ValueError, match="NaN or infinite"):
        rules.layer_map(np.array([[np.nan]]), 1.0)
    with pytest.raises(ValueError, match="negative"):
        rules.layer_map(np.array([[-0.1]]), 1.0)


def test_map_meta_records_input_source_strength_and_model():
    est = NoiseEstimate.poisson_gaussian(0.01, 1e-3, source="smooth blocks")
    meta = rules.map_meta("cam", 2.0, est)
    assert meta == dict(source="fitted model", noise_map_for="cam", strength=2.0,
                        model="poisson-gaussian", a=est.a, b=est.b)
    assert (meta["a"], meta["b"]) == pytest.approx((0.01, 1e-3))
    edited = NoiseEstimate.poisson_gaussian(0.02, 1e-3, source="edited")
    assert rules.map_meta("cam", 1.0, edited)["source"] == "edited model"
    meta = rules.map_meta("cam", 1.5, None, "painted")
    assert meta["source"] == "layer 'painted'" and meta["model"] is None
    assert meta["a"] is None and meta["noise_map_for"] == "cam"
    summary = rules.map_summary("cam noise map", np.array([0.1, 0.3]), 1.5)
    assert summary == ("Map 'cam noise map': noise std 0.1 to 0.3 (mean 0.2, data units, "
                       "strength 1.5).")
