"""pairs='auto': the training strategy chosen from the data (no Qt, no training)."""

import numpy as np
import pytest
from skimage import data

from napari_denoise._sample_data import noisy_stack, noisy_timeseries
from napari_denoise._widgets.train_settings import LayerInfo, TrainSettings
from napari_denoise.cli import build_parser
from napari_denoise.core.training.strategy import SINGLE_IMAGE, choose_pairs


@pytest.fixture(scope="module")
def still():
    return noisy_timeseries(n_frames=5)[0]


def test_still_stack_trains_against_the_other_frames(still):
    pairs, why = choose_pairs(still)  # axes guessed, as from a plain TIFF stack
    assert pairs == "others", why
    assert choose_pairs(still, "TYX")[0] == "others"


def test_single_image_gets_the_measured_single_image_strategy(still):
    assert SINGLE_IMAGE == "blindspot"
    pairs, why = choose_pairs(still[0])
    assert pairs == "blindspot" and "single image" in why


def test_stack_whose_planes_differ_is_not_paired():
    zstack = noisy_stack()[0]  # slices through blobs: neighbours differ in content
    pairs, why = choose_pairs(zstack, "ZYX")
    assert pairs == SINGLE_IMAGE and "not captures" in why
    rng = np.random.default_rng(0)
    scene = data.camera()[180:340, 150:310].astype(np.float64)  # the man: edges everywhere
    moving = np.stack([rng.poisson(np.roll(scene, 4 * k, axis=1)) for k in range(4)])
    assert choose_pairs(moving, "TYX")[0] == SINGLE_IMAGE


def test_a_second_capture_and_an_explicit_axis(still):
    assert choose_pairs(still[0], target=still[1])[0] == "two"
    # frames along the last leading axis of (T, Z=1, Y, X) data, named
    assert choose_pairs(still[:, None], "TZYX", axis="T")[0] == "others"


def test_cli_and_widget_offer_the_choices():
    args = build_parser().parse_args(["train", "in.tif"])
    assert args.pairs == "auto"
    assert build_parser().parse_args(["train", "in.tif", "--pairs", "others"]).pairs == "others"
    info = LayerInfo(name="movie", shape=(5, 64, 64), dtype="uint16", axes="TYX")
    cfg = TrainSettings(data=info, pairs="others").to_config()
    assert cfg.pairs == "others" and cfg.axis == 0
