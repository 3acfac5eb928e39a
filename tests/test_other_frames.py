"""Targets from the other frames of a still stack, and one estimate from every frame."""

import numpy as np
import pytest
from skimage import data

import napari_denoise as nd
from napari_denoise.core.training.pairs import OtherFramesSampler

N, SIGMA = 6, 0.1


@pytest.fixture(scope="module")
def still():
    clean = data.camera()[100:228, 100:228].astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    stack = clean + rng.normal(0, SIGMA, (N,) + clean.shape).astype(np.float32)
    return clean, stack


def test_mean_of_other_frames_has_the_clean_expectation(still):
    clean, stack = still
    s = OtherFramesSampler(stack, patch=16, val_fraction=0, augment=False, seed=1,
                           data_range=(0.0, 1.0))
    b = s.batch(400)
    ref = np.stack([s._crop_array(np.broadcast_to(clean, stack.shape).reshape(N, 1, *clean.shape),
                                  loc.frame, loc.group, loc.box) for loc in b.locations])[:, None]
    err_t = b.target - ref
    err_x = b.input - ref
    # unbiased: the target's error has mean 0 (the standard error is ~0.0003 here)
    assert abs(float(err_t.mean())) < 0.003
    # the mean of N - 1 frames: noise variance SIGMA^2 / (N - 1), not SIGMA^2 (one frame)
    assert float(err_t.var()) == pytest.approx(SIGMA**2 / (N - 1), rel=0.1)
    # and independent of the input's noise
    assert abs(float(np.corrcoef(err_t.ravel(), err_x.ravel())[0, 1])) < 0.05
    # the input is one whole frame, and every frame takes its turn
    assert float(err_x.var()) == pytest.approx(SIGMA**2, rel=0.1)
    assert {loc.frame for loc in b.locations} == set(range(N))


def test_validation_frames_never_enter_training_targets():
    # the 2 validation frames hold a huge offset: a training target averaging them would show it
    stack = np.zeros((10, 64, 64), np.float32)
    stack[8:] = 100.0
    s = OtherFramesSampler(stack, patch=16, val_fraction=0.2, augment=False,
                           data_range=(0.0, 1.0))
    assert s.split.startswith("frames 8-9")
    assert float(np.abs(s.batch(32).target).max()) == 0.0
    assert float(s.val_batch().target.min()) == 100.0


def test_train_with_others_and_combine_frames(still):
    clean, stack = still
    before = stack.copy()
    m = nd.train_noise2noise(stack, pairs="others", steps=2, batch=2, patch=32,
                             arch_args={"features": 8, "levels": 2}, val_every=2)
    assert m.card["training"]["pairs"] == "others"
    assert "mean of the other frames" in m.card["description"]
    one = nd.denoise(stack, "tv", axes="TYX", sigma=SIGMA, device="cpu")
    comb = nd.denoise(stack, "tv", axes="TYX", sigma=SIGMA, device="cpu", combine_frames=True)
    assert np.array_equal(stack, before)
    assert comb.shape == clean.shape and comb.dtype == stack.dtype
    np.testing.assert_allclose(comb, one.mean(0), atol=1e-6)
    assert np.mean((comb - clean) ** 2) < 0.5 * np.mean((one[0] - clean) ** 2)
    with pytest.raises(nd.DenoiseError, match="stack of frames"):
        nd.denoise(clean, "tv", sigma=SIGMA, combine_frames=True)
