"""The Denoise widget's settings and their engine arguments, without Qt or a viewer."""

from __future__ import annotations


import numpy as np
import pytest

from napari_denoise import DenoiseError
from napari_denoise._widgets.denoise_models import (format_card, model_dims, model_is_blind,
                                                    model_key, ordered_models)
from napari_denoise._widgets.denoise_worker import format_seconds, progress_text
from napari_denoise._widgets.settings import DenoiseSettings, check_input
from napari_denoise.core.inference import denoise_iter, run_to_end
from napari_denoise.core.progress import Progress
from conftest import assert_widget_modules_import_no_gui


def test_widget_logic_modules_import_no_qt_napari_or_torch():
    assert_widget_modules_import_no_gui("settings", "denoise_models", "denoise_worker")


# -- engine_kwargs ----------------------------------------------------------------------

def test_defaults_reach_the_engine_as_its_own_defaults():
    kw = DenoiseSettings(model="tv", axes="YX").engine_kwargs()
    assert kw == dict(model="tv", sigma="auto", noise="auto", strength=1.0, destripe=False,
                      axes="YX", mode="2d", device="auto", tile=None, quality="fast",
                      precision="auto", tune=False)
    # ... and they are the engine's defaults
    import inspect

    from napari_denoise.core.inference import _denoise_iter, denoise_iter

    params = inspect.signature(_denoise_iter).parameters
    for key in ("noise", "strength", "destripe", "device", "quality", "precision"):
        assert params[key].default == kw[key], key
    assert inspect.signature(denoise_iter).parameters["tune"].default == kw["tune"]


def test_quality_and_precision_reach_the_engine():
    kw = DenoiseSettings(model="ffdnet_gray", quality="best", precision="fp32").engine_kwargs()
    assert kw["quality"] == "best" and kw["precision"] == "fp32"


@pytest.mark.parametrize("noise_model, sigma", [("gaussian", 7.5), ("auto", "auto"),
                                                ("poisson-gaussian", "auto"),
                                                ("rician", "auto")])
def test_auto_passes_the_estimate_only_for_gaussian_noise(noise_model, sigma):
    s = DenoiseSettings(model="tv", estimate=7.5, noise_model=noise_model, strength=2.0)
    kw = s.engine_kwargs()
    assert kw["sigma"] == sigma and kw["noise"] == noise_model and kw["strength"] == 2.0
    assert s.noise_level() == 7.5  # what the controls show, whatever the model


def test_auto_without_an_estimate_lets_the_engine_estimate():
    s = DenoiseSettings(model="tv", noise_model="gaussian")
    assert s.noise_level() == "auto" and s.engine_kwargs()["sigma"] == "auto"


def test_manual_sigma_with_any_noise_model_and_strength():
    s = DenoiseSettings(model="tv", noise_mode="manual", sigma=30, noise_model="rician",
                        strength=0.5, estimate=7.5, destripe=True)
    kw = s.engine_kwargs()
    assert kw["sigma"] == 30.0 and isinstance(kw["sigma"], float)
    assert kw["noise"] == "rician" and kw["strength"] == 0.5 and kw["destripe"] is True


def test_map_is_used_as_it_is_with_strength_one():
    smap = np.full((8, 8), 3.0, np.float32)
    s = DenoiseSettings(model="tv", noise_mode="map", noise_map=smap, strength=3.0, sigma=30)
    kw = s.engine_kwargs()
    assert kw["sigma"] is smap and kw["strength"] == 1.0
    assert s.noise_level() is smap


def test_missing_map_or_model_is_a_message():
    with pytest.raises(DenoiseError, match="noise-map layer"):
        DenoiseSettings(model="tv", noise_mode="map").engine_kwargs()
    with pytest.raises(DenoiseError, match="no denoising method"):
        DenoiseSettings(model=None).engine_kwargs()


def test_processing_device_and_tile():
    kw = DenoiseSettings(model="/m/tiny.safetensors", axes="ZYX", mode="3d", device="cuda:1",
                         tile=128).engine_kwargs()
    assert (kw["model"], kw["axes"], kw["mode"], kw["device"], kw["tile"]) == (
        "/m/tiny.safetensors", "ZYX", "3d", "cuda:1", 128)
    kw = DenoiseSettings(model="tv", mode="", device="", tile=0).engine_kwargs()
    assert (kw["mode"], kw["device"], kw["tile"]) == ("2d", "auto", None)


def test_a_plane_runs_2d_with_the_maps_plane():
    smap = np.ones((4, 8, 8), np.float32)
    s = DenoiseSettings(model="tv", noise_mode="map", noise_map=smap, axes="ZYX", mode="3d")
    plane = smap[1]
    kw = s.for_plane(False, plane).engine_kwargs()
    assert kw["axes"] == "YX" and kw["mode"] == "2d" and kw["sigma"] is plane
    assert s.for_plane(True).axes == "YXC"
    assert s.axes == "ZYX" and s.noise_map is smap  # the settings themselves unchanged


def test_engine_kwargs_are_what_the_engine_takes(rng):
    img = (0.5 + 0.1 * rng.standard_normal((32, 32))).astype(np.float32)
    for s in (DenoiseSettings(model="tv", axes="YX", noise_model="gaussian", estimate=0.1),
              DenoiseSettings(model="tv", axes="YX", noise_mode="manual", sigma=0.1,
                              destripe=True),
              DenoiseSettings(model="tv", axes="YX", noise_mode="map",
                              noise_map=np.full(img.shape, 0.1, np.float32))):
        kw = s.engine_kwargs()
        res = run_to_end(denoise_iter(img, **kw))
        assert res.image.shape == img.shape and res.info.strength == kw["strength"]
        assert res.info.mode == "2d" and res.info.destripe is kw["destripe"]


# -- check_input --------------------------------------------------------------------------

def _kw(axes="YX", sigma="auto"):
    return DenoiseSettings(model="tv", axes=axes).engine_kwargs() | {"sigma": sigma}


@pytest.mark.parametrize("image, kw, rgb, words", [
    (np.ones((1, 1), np.float32), _kw(), False, "too small"),
    (np.ones((32, 32), np.float32), _kw("ZYX"), False, "axes"),
    (np.ones((32, 32), np.float32), _kw("YQ"), False, "axes"),
    (np.ones((32, 32), np.float32), _kw(sigma=np.ones((16, 16))), False, "noise map"),
    (np.full((32, 32), np.nan, np.float32), _kw(), False, "NaN"),
    (np.ones((32, 32), bool), _kw(), False, "data type"),
    (np.ones((0, 32), np.uint8), _kw(), False, "empty"),
    (np.ones((32, 32, 3), np.uint8), _kw("CYX"), True, "RGB"),
])
def test_check_input_refuses_what_the_engine_refuses(image, kw, rgb, words):
    with pytest.raises(DenoiseError, match=words):
        check_input(image, kw, rgb=rgb)


def test_check_input_leaves_the_rest_to_the_engine():
    img = np.ones((32, 32), np.float32)
    img[3, 4] = np.nan  # found by the engine, in the worker
    check_input(img, _kw())
    check_input(np.ones((32, 32, 3), np.uint8), _kw("YXC"), rgb=True)
    check_input(np.ones((4, 32, 32), np.uint16), _kw("ZYX", np.ones((4, 32, 32))))
    with pytest.raises(DenoiseError, match="NaN"):
        run_to_end(denoise_iter(img, **_kw()))


# -- models and progress, as listed and shown ----------------------------------------------

def test_model_entries_from_list_models():
    from napari_denoise import list_models

    entries = ordered_models(list_models())
    kinds = [e["kind"] for e in entries]
    assert kinds == sorted(kinds, key=("pretrained", "classical", "user").index)
    tv = next(e for e in entries if e["name"] == "tv")
    assert model_key(tv) == "tv" and not model_is_blind(tv) and 2 in model_dims(tv)
    assert "Classical method" in format_card(tv)
    user = {"name": "mine", "kind": "user", "path": "/m/mine.safetensors", "dims": [3],
            "needs_sigma": False, "card": {"arch": "dncnn", "licence": "MIT"},
            "description": "my net"}
    assert model_key(user) == "/m/mine.safetensors" and model_dims(user) == (3,)
    assert model_is_blind(user)
    assert "Licence: MIT" in format_card(user) and "File: /m/mine.safetensors" in format_card(user)
    broken = dict(user, card={"error": "bad json"})
    assert not model_is_blind(broken) and "could not be read" in format_card(broken)


def test_automatic_comes_first_when_the_default_network_is_there():
    from napari_denoise import list_models
    from napari_denoise._widgets.denoise_models import model_label, with_automatic

    entries = ordered_models(with_automatic(list_models()))
    auto = entries[0]
    assert model_key(auto) == "auto" and model_label(auto) == "Automatic (chosen for the data)"
    assert "drunet_microscopy for single-channel images whose noise grows" in \
        auto["description"] and not model_is_blind(auto)
    assert "Chosen for the data" in format_card(auto)
    assert [e["kind"] for e in entries].count("auto") == 1
    without = [e for e in list_models() if e["name"] != "drunet_gray"]
    assert all(e["kind"] != "auto" for e in with_automatic(without))


def test_progress_in_words():
    assert format_seconds(None) == "--" and format_seconds(75) == "1 min 15 s"
    assert format_seconds(3725) == "1 h 02 min"
    p = Progress(3, 10, "denoising", 2.0)
    text = progress_text(p)
    assert "tile 3/10" in text and "ETA" in text and text.startswith("denoising")
    assert progress_text(Progress(0, 1, "estimating the noise", 0.0)) == "estimating the noise"


def test_the_status_line_says_how_the_run_went():
    from napari_denoise._widgets.denoise_worker import result_text
    from napari_denoise.core.info import DenoiseInfo

    info = DenoiseInfo(model="drunet_gray", device="cpu", precision="bf16", quality="best",
                       colour_space="opponent", sigma="0.1")
    text = result_text(info, 2.0)
    assert "drunet_gray on cpu (bf16)" in text and "8 flips and rotations" in text
    assert "luminance" in text
    plain = result_text(DenoiseInfo(model="tv", device="cpu", sigma="0.1"), 1.0)
    assert plain.endswith("tv on cpu, sigma 0.1")
