"""What a Denoise run was, as data and words (run_record.py), without Qt or a viewer."""

from __future__ import annotations

import numpy as np
import pytest

from napari_denoise._widgets.run_record import (command_line, kept_name, preview_name,
                                                python_snippet, run_record, settings_label,
                                                slice_label)
from napari_denoise._widgets.settings import DenoiseSettings
from conftest import assert_widget_modules_import_no_gui


def test_run_record_imports_no_qt_napari_or_torch():
    assert_widget_modules_import_no_gui("run_record")


def test_the_record_holds_what_the_engine_was_given():
    s = DenoiseSettings(model="ffdnet_gray", noise_mode="manual", sigma=12.5,
                        noise_model="gaussian", strength=1.5, axes="ZYX", mode="2d",
                        quality="best", precision="fp32", tile=128)
    rec = run_record(s)
    assert rec == {"method": "ffdnet_gray", "noise_model": "gaussian", "noise_level": 12.5,
                   "noise_level_from": "manual", "strength": 1.5, "destripe": False,
                   "axes": "ZYX", "mode": "2d", "device": "auto", "tile": 128,
                   "quality": "best", "precision": "fp32", "tune": False}
    # auto: the estimate is what the Gaussian model gets; other models are fitted later
    auto = DenoiseSettings(model="bm3d", estimate=0.031, noise_model="gaussian", axes="YX")
    assert run_record(auto)["noise_level"] == 0.031
    assert run_record(auto)["noise_level_from"] == "estimated"
    for model in ("auto", "poisson-gaussian"):
        other = DenoiseSettings(model="bm3d", estimate=0.031, noise_model=model, axes="YX")
        assert run_record(other)["noise_level"] == "auto"
    # a map is not stored, only named; the map's strength is its own
    m = DenoiseSettings(model="bm3d", noise_mode="map", noise_map=np.ones((4, 4)),
                        strength=2.0, axes="YX")
    assert run_record(m)["noise_level"] == "map" and run_record(m)["strength"] == 1.0
    # the strength chosen on the image: not with a map, which holds its own strength
    t = DenoiseSettings(model="tv", noise_mode="manual", sigma=2, tune_strength=True, axes="YX")
    assert t.engine_kwargs()["tune"] is True and run_record(t)["tune"] is True
    assert DenoiseSettings(model="tv", noise_mode="map", noise_map=np.ones((4, 4)),
                           tune_strength=True, axes="YX").engine_kwargs()["tune"] is False


@pytest.mark.parametrize("settings, label", [
    (dict(model="ffdnet_gray", noise_mode="manual", sigma=12.5), "ffdnet_gray, sigma 12.5"),
    (dict(model="ffdnet_gray", estimate=0.0312345, noise_model="gaussian"),
     "ffdnet_gray, sigma 0.03123 (estimated)"),
    (dict(model="ffdnet_gray", estimate=0.0312345), "ffdnet_gray, noise estimated"),
    (dict(model="/home/me/models/my_net.safetensors", noise_model="poisson-gaussian"),
     "my_net, poisson-gaussian noise estimated"),
    (dict(model="tv", noise_mode="manual", sigma=3, strength=1.5, destripe=True,
          quality="best"), "tv, sigma 3, strength 1.5, stripes removed, best quality"),
    (dict(model="bm3d", noise_mode="map", noise_map=np.ones((2, 2))), "bm3d, noise map"),
    (dict(model="tv", noise_mode="manual", sigma=3, strength=1.5, tune_strength=True),
     "tv, sigma 3, strength chosen on the image"),
])
def test_settings_in_words(settings, label):
    assert settings_label(run_record(DenoiseSettings(axes="YX", **settings))) == label


def test_slice_and_preview_names():
    s = slice(None)
    assert slice_label((5, s, s), "ZYX") == "Z 5"
    assert slice_label((2, 5, s, s), "TZYX") == "T 2, Z 5"
    assert slice_label((s, 3, s), "YZX") == "Z 3"  # another pair of dims shown
    assert slice_label((s, s), "YX") == ""
    assert slice_label((s, s), "YXC") == ""  # RGB: C has no index
    rec = run_record(DenoiseSettings(model="tv", noise_mode="manual", sigma=2, axes="YX"))
    assert preview_name("stack", "Z 5", rec) == "stack preview, Z 5 (tv, sigma 2)"
    assert preview_name("img", "", rec) == "img preview (tv, sigma 2)"
    assert kept_name("stack", rec) == "stack denoised (tv, sigma 2)"


# -- repeating a run ----------------------------------------------------------------------

def _widget_run(image, settings: DenoiseSettings):
    """What the Denoise widget's worker computes: the engine on engine_kwargs()."""
    from napari_denoise.core.inference import denoise_iter, run_to_end

    return run_to_end(denoise_iter(image, **settings.engine_kwargs())).image


CASES = {
    "manual sigma, strength": dict(model="tv", noise_mode="manual", sigma=0.0731,
                                   strength=1.3, axes="ZYX"),
    "estimated sigma": dict(model="tv", noise_mode="auto", estimate=0.0512345678901,
                            noise_model="gaussian", axes="ZYX"),
    "fitted by the engine": dict(model="tv", noise_mode="auto", noise_model="auto",
                                 axes="ZYX", destripe=True),
    "strength chosen on the image": dict(model="tv", noise_mode="manual", sigma=0.08,
                                         tune_strength=True, axes="ZYX"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_python_snippet_gives_the_widgets_array(case, tiny_model_file):
    rng = np.random.default_rng(3)
    image = rng.normal(0.5, 0.08, (2, 40, 48)).astype(np.float32)
    s = DenoiseSettings(**CASES[case])
    expected = _widget_run(image, s)
    code = python_snippet(run_record(s), "stack")
    ns = {"image": image.copy()}
    exec(compile(code, "<snippet>", "exec"), ns)  # noqa: S102 - the code we generate
    assert ns["denoised"].dtype == expected.dtype
    np.testing.assert_array_equal(ns["denoised"], expected)
    # a network given by its path, and the best quality
    s = DenoiseSettings(model=str(tiny_model_file), noise_mode="manual", sigma=0.1,
                        axes="ZYX", quality="best", device="cpu")
    ns = {"image": image.copy()}
    exec(compile(python_snippet(run_record(s), "stack"), "<snippet>", "exec"), ns)  # noqa: S102
    np.testing.assert_array_equal(ns["denoised"], _widget_run(image, s))


def test_the_python_snippet_with_a_noise_map():
    rng = np.random.default_rng(4)
    image = rng.normal(0.5, 0.08, (40, 48)).astype(np.float32)
    smap = np.full(image.shape, 0.05, np.float32)
    smap[:, 24:] = 0.1
    s = DenoiseSettings(model="tv", noise_mode="map", noise_map=smap, axes="YX")
    code = python_snippet(run_record(s), "img", map_name="img noise map")
    assert "'img noise map'" in code
    ns = {"image": image, "noise_map": smap}
    exec(compile(code, "<snippet>", "exec"), ns)  # noqa: S102
    np.testing.assert_array_equal(ns["denoised"], _widget_run(image, s))


@pytest.mark.parametrize("case", list(CASES))
def test_the_command_line_gives_the_widgets_array(case, tmp_path, capsys):
    import shlex

    from napari_denoise.cli import main
    from napari_denoise.io import read_image, write_image

    rng = np.random.default_rng(5)
    image = rng.normal(0.5, 0.08, (2, 40, 48)).astype(np.float32)
    src, dst = tmp_path / "my stack.tif", tmp_path / "out.tif"
    write_image(src, image)
    s = DenoiseSettings(**CASES[case])
    cmd = command_line(run_record(s), str(src), str(dst))
    words = shlex.split(cmd)
    assert words[:5] == ["napari-denoise", "denoise", str(src), "-o", str(dst)]
    assert main(words[1:]) == 0, capsys.readouterr().err
    out, _ = read_image(dst)
    np.testing.assert_array_equal(out, _widget_run(image, s))
