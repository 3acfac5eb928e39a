"""model='auto', auto='tuned': method and strength chosen on the image by the score."""

import numpy as np
import pytest
from skimage import data

import napari_denoise as nd
from napari_denoise.core.inference import denoise_iter, run_to_end
from napari_denoise.core.tune import TUNED_MODELS


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(0)
    clean = data.camera()[200:296, 200:296].astype(np.float32) / 255
    return clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)


def test_tuned_runs_the_best_scored_method_and_says_so(noisy):
    before = noisy.copy()
    res = run_to_end(denoise_iter(noisy, "auto", auto="tuned", tune=[1.0], device="cpu"))
    assert np.array_equal(noisy, before)
    note = [n for n in res.info.notes if "self-supervised error among" in n]
    assert note, res.info.notes
    t = nd.tune(noisy, list(TUNED_MODELS), [1.0], device="cpu")
    best = t.best.model
    assert note[0].startswith(f"{best} at strength 1")
    same = nd.denoise(noisy, best, strength=1.0, device="cpu")
    np.testing.assert_allclose(res.image, same, atol=1e-5)


def test_tuned_is_refused_where_it_cannot_apply(noisy):
    with pytest.raises(nd.DenoiseError, match="model='auto'"):
        nd.denoise(noisy, "bm3d", auto="tuned")
    with pytest.raises(nd.DenoiseError, match="auto must be"):
        nd.denoise(noisy, auto="best")
