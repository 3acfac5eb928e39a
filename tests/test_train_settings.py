"""The Train widget's settings, their checks and their trainer config, without Qt."""

from __future__ import annotations


import pytest

from napari_denoise import DenoiseError
from napari_denoise._widgets.train_settings import (ARCH_ARGS, NO_INIT, LayerInfo,
                                                    TrainSettings, stack_axis_choices)
from napari_denoise.core.training.n2n_config import Noise2NoiseConfig
from conftest import assert_widget_modules_import_no_gui

STACK = LayerInfo("stack", (6, 48, 48), axes="TYX", axis_labels=("t", "y", "x"))


def test_settings_and_worker_modules_import_no_qt_napari_or_torch():
    assert_widget_modules_import_no_gui("train_settings", "train_worker")


# -- stack axes ------------------------------------------------------------------------

def test_stack_axes_likely_first_with_their_labels():
    assert stack_axis_choices(STACK) == [("T (6 frames)", 0)]
    tz = LayerInfo("tz", (2, 5, 16, 16), axes="TZYX", axis_labels=("-4", "-3", "-2", "-1"))
    got = stack_axis_choices(tz)
    assert [i for _, i in got] == [0, 1] and "'-" not in got[0][0]  # default labels hidden
    zt = LayerInfo("zt", (5, 3, 16, 16), axes="ZTYX", axis_labels=("depth", "time", "y", "x"))
    assert [i for _, i in stack_axis_choices(zt)] == [1, 0]
    assert "'depth'" in stack_axis_choices(zt)[1][0]
    one = LayerInfo("one", (1, 16, 16), axes="TYX", axis_labels=("-3", "-2", "-1"))
    assert stack_axis_choices(one) == [("T (1 frame)", 0)]


def test_no_stack_axes_for_single_images_pyramids_or_nothing():
    assert stack_axis_choices(None) == []
    assert stack_axis_choices(LayerInfo("img", (16, 16), axes="YX")) == []
    rgb = LayerInfo("rgb", (16, 16, 3), axes="YXC", rgb=True, axis_labels=("-2", "-1"))
    assert stack_axis_choices(rgb) == [("C (3 frames)", 2)]  # channels: listed last
    assert stack_axis_choices(LayerInfo("p", (4, 16, 16), axes="TYX", multiscale=True)) == []
    # axes unknown: the last two (three for RGB) are spatial
    assert [i for _, i in stack_axis_choices(LayerInfo("u", (3, 4, 16, 16)))] == [0, 1]
    assert [i for _, i in stack_axis_choices(LayerInfo("u", (4, 16, 16, 3), rgb=True))] == [0]
    assert [i for _, i in stack_axis_choices(LayerInfo("u", (16, 16, 3), rgb=True))] == []


# -- the config --------------------------------------------------------------------------

def test_defaults_make_the_trainers_config():
    cfg = TrainSettings(data=STACK).to_config()
    assert isinstance(cfg, Noise2NoiseConfig)
    # pairs and the network to start from follow the data (in the trainer)
    assert cfg == Noise2NoiseConfig(pairs="auto", axes="TYX", loss="l2", patch=64,
                                    batch=8, device="auto", name="n2n_stack", axis=0,
                                    init="auto", minutes=5.0)
    cfg = TrainSettings(data=STACK, pairs="neighbors", init=NO_INIT).to_config()
    assert cfg == Noise2NoiseConfig(pairs="neighbors", axes="TYX", loss="l2", patch=64,
                                    batch=8, device="auto", name="n2n_stack", axis=0,
                                    distance=1, model="unet", minutes=5.0)
    # automatic pairs on a single image: no stack axis; a second capture makes them two
    img = LayerInfo("img", (48, 48), axes="YX")
    assert TrainSettings(data=img).to_config().axis is None
    two = TrainSettings(data=STACK, target=LayerInfo("b", (5, 48, 48)))
    with pytest.raises(DenoiseError, match="must match"):
        two.to_config()


def test_controls_reach_the_config():
    s = TrainSettings(data=STACK, pairs="neighbors", axis=0, distance="any", model="dncnn",
                      init=NO_INIT, size="tiny", patch=32, batch=4, lr=0.003, loss="l1", minutes=0,
                      steps=40, device="cpu", name="  mine ")
    cfg = s.to_config()
    assert (cfg.axis, cfg.distance, cfg.model) == (0, "any", "dncnn")
    assert cfg.arch_args == ARCH_ARGS["dncnn"]["tiny"] and cfg.arch_args is not \
        ARCH_ARGS["dncnn"]["tiny"]
    assert (cfg.patch, cfg.batch, cfg.lr, cfg.loss) == (32, 4, 0.003, "l1")
    assert (cfg.steps, cfg.minutes, cfg.device, cfg.name) == (40, None, "cpu", "mine")
    assert s.budget() == (40, None) and s.model_name() == "mine"


def test_zeros_mean_the_trainers_defaults():
    cfg = TrainSettings(data=STACK, lr=0, steps=0, minutes=0, device="").to_config()
    assert cfg.lr is None and cfg.steps is None and cfg.minutes is None
    assert cfg.device == "auto" and cfg.arch_args is None  # "standard": the core's own


def test_fine_tuning_takes_the_models_network():
    cfg = TrainSettings(data=STACK, init="/models/mine.safetensors", model="dncnn",
                        size="tiny").to_config()
    assert cfg.init == "/models/mine.safetensors" and cfg.model is None
    assert cfg.arch_args is None
    assert not TrainSettings(init=NO_INIT).fine_tune and not TrainSettings(init=None).fine_tune
    assert TrainSettings().fine_tune  # the shipped network for the data's noise


def test_other_pairs_take_no_stack_axis():
    img = LayerInfo("img", (48, 48), axes="YX")
    for kind in ("subsample", "blindspot"):
        cfg = TrainSettings(data=img, pairs=kind, axis=3, distance="any").to_config()
        assert cfg.pairs == kind and cfg.axis is None and cfg.distance == 1
    two = TrainSettings(data=STACK, pairs="two", target=LayerInfo("b", (6, 48, 48)))
    assert two.to_config().pairs == "two"


# -- refused before a worker starts --------------------------------------------------------

@pytest.mark.parametrize("settings, words", [
    (TrainSettings(), "choose an image layer"),
    (TrainSettings(data=LayerInfo("p", (4, 64, 64), multiscale=True)), "multiscale"),
    (TrainSettings(data=LayerInfo("b", (4, 8, 8), dtype="bool")), "data type bool"),
    (TrainSettings(data=LayerInfo("e", (0, 8, 8))), "empty"),
    (TrainSettings(data=LayerInfo("i", (48, 48), axes="YX"), pairs="neighbors"),
     "single image"),
    (TrainSettings(data=LayerInfo("one", (1, 48, 48), axes="TYX"), pairs="neighbors"),
     "only one frame"),
    (TrainSettings(data=STACK, pairs="two"), "second capture"),
    (TrainSettings(data=STACK, pairs="two", target=LayerInfo("b", (5, 48, 48))), "must match"),
    (TrainSettings(data=STACK, reference=LayerInfo("r", (48, 40))), "reference 'r'"),
    (TrainSettings(data=STACK, dims=3), "no Z axis"),
    (TrainSettings(data=LayerInfo("v", (8, 48, 48), axes="ZYX"), dims=3,
                   init="drunet_gray"), "networks to start from are 2-D"),
])
def test_settings_that_cannot_work_are_messages(settings, words):
    with pytest.raises(DenoiseError, match=words):
        settings.to_config()


def test_single_images_suggest_other_pairs():
    with pytest.raises(DenoiseError, match="subsample"):
        TrainSettings(data=LayerInfo("i", (48, 48), axes="YX"), pairs="neighbors").check()
    TrainSettings(data=LayerInfo("i", (48, 48), axes="YX")).check()  # automatic pairs


def test_a_reference_may_be_one_image_of_the_data():
    for shape in ((6, 48, 48), (48, 48)):
        TrainSettings(data=STACK, reference=LayerInfo("r", shape)).check()
    rgb = LayerInfo("c", (4, 32, 32, 3), axes="TYXC", rgb=True)
    TrainSettings(data=rgb, pairs="blindspot", reference=LayerInfo("r", (32, 32, 3))).check()


def test_bad_values_are_the_configs_one_line_errors():
    with pytest.raises(ValueError, match="batch"):
        TrainSettings(data=STACK, batch=0).to_config()


def test_volumes_train_a_3d_network_shaped_by_the_layer_scale():
    vol = LayerInfo("v", (3, 10, 48, 48), axes="TZYX", scale=(1.0, 0.5, 0.125, 0.125))
    cfg = TrainSettings(data=vol, dims=3, pairs="auto", axis=1).to_config()
    assert cfg.dims == 3 and cfg.voxel_size == (0.5, 0.125, 0.125)
    assert cfg.axis == 0  # Z lies inside the volume: the frames are along T
    # no scale: cubic voxels; a Z stack alone: no stack axis
    cfg = TrainSettings(data=LayerInfo("z", (10, 48, 48), axes="ZYX"), dims=3,
                        pairs="auto", axis=0).to_config()
    assert cfg.dims == 3 and cfg.voxel_size is None and cfg.axis is None
    assert TrainSettings(data=vol).to_config().dims is None  # planes by default
