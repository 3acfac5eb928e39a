"""Typed recipes: unknown keys at any depth, wrong types and bad values are refused with a
message that names the key."""

import json

import pytest

from napari_denoise.core.training.recipe import Recipe

BASE = {"name": "x", "arch": "dncnn"}


@pytest.mark.parametrize("extra,names", [
    ({"noise": {"type": "gaussian", "sigma": 25, "quantise": 255}}, "noise.quantise"),
    ({"train_pairs": {"dataset": "w2s", "fields": [1, 2], "folder": "x"}}, "train_pairs.folder"),
    ({"colour": True}, "colour"),
])
def test_unknown_keys_at_any_depth_are_named(extra, names):
    with pytest.raises(ValueError, match=f"unknown recipe keys: {names}"):
        Recipe.from_dict({**BASE, **extra})


@pytest.mark.parametrize("key,value,words", [
    ("steps", "100", "steps: Input should be a valid integer"),
    ("lr", "fast", "lr: Input should be a valid number"),
    ("batch", -4, "batch must be positive"),
    ("min_lr_ratio", 2.0, "min_lr_ratio: Input should be less than or equal to 1"),
    ("noise", {"type": "speckle"}, "noise.type"),
    ("val_holdout", "test_001.png", "val_holdout: Input should be a valid list"),
])
def test_wrong_types_and_values_are_named(key, value, words):
    with pytest.raises(ValueError, match=words):
        Recipe.from_dict({**BASE, key: value})


def test_whole_numbers_are_fine_where_floats_are_expected_and_round_trip(tmp_path):
    r = Recipe.from_dict({**BASE, "lr": 1, "noise": {"type": "gaussian", "sigma": [0, 75]}})
    assert r.lr == 1.0 and r.noise.as_dict() == {"type": "gaussian", "sigma": [0, 75],
                                                 "log_a": False, "exact": False, "clip": False,
                                                 "map": "true"}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(r.as_dict()))
    assert Recipe.load(path) == r
    with pytest.raises(ValueError):
        r.steps = "many"  # assignments are checked too (the --steps override)


def test_loss_and_selection_are_recipe_choices(tmp_path):
    import numpy as np
    import torch
    from skimage import data

    from napari_denoise.core.training.supervised import Trainer

    with pytest.raises(ValueError, match="loss: unknown loss 'perceptual'"):
        Recipe.from_dict({**BASE, "loss": "perceptual"})
    with pytest.raises(ValueError, match="select_by"):
        Recipe.from_dict({**BASE, "select_by": "lpips"})
    cam = data.camera().astype(np.float32) / 255
    images = [cam[:96, :96], cam[200:296, 200:296]]
    r = Recipe.from_dict({**BASE, "arch_args": {"depth": 4, "features": 16},
                          "noise": {"type": "gaussian", "sigma": 25}, "patch": 32, "batch": 8,
                          "steps": 40, "lr": 2e-3, "warmup": 5, "val_every": 20,
                          "ckpt_every": 1000, "val_sigmas": [25], "loss": "composite",
                          "select_by": "ssim"})
    torch.set_num_threads(1)
    tr = Trainer(r, tmp_path, tmp_path, device="cpu", images=images,
                 val_images=[cam[300:364, 300:364]], log=lambda m: None)
    before = tr.validate_all()
    res = tr.run()
    after = tr.validate_all()
    assert after["ssim"] > before["ssim"] + 0.05 and after["psnr"] > before["psnr"]
    assert {"val_psnr", "val_ssim"} <= set(tr.history[-1])
    # the best weights were kept by SSIM: the best score is an SSIM, not a PSNR in dB
    assert res["select_by"] == "ssim" and 0 < res["best"] <= 1
    assert res["best"] == max(h["val_ssim"] for h in tr.history)
