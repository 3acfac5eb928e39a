"""A self-trained model records the noise domain it was trained in, and the engine always
applies it there: raw intensities are never put through the Anscombe transform, a model
trained on the transform always is (with its own card's transform)."""

import numpy as np
import pytest
from skimage import data

import napari_denoise as nd
from napari_denoise.core.inference import denoise_iter, run_to_end
from napari_denoise.core.weights import validate_card

TINY = dict(steps=2, batch=2, patch=32, arch_args={"features": 8, "levels": 2}, val_every=2)


@pytest.fixture(scope="module")
def pg_stack():
    clean = data.camera()[128:320, 128:320].astype(np.float64) * 4 + 100
    rng = np.random.default_rng(0)
    return np.stack([2 * rng.poisson(clean / 2) + rng.normal(0, 3, clean.shape)
                     for _ in range(3)]).astype(np.float32)


def _run(img, model, **kw):
    return run_to_end(denoise_iter(img, model, device="cpu", **kw))


def test_raw_model_records_raw_and_never_runs_through_the_gat(pg_stack):
    raw = nd.train_noise2noise(pg_stack, pairs="neighbors", **TINY)
    assert raw.card["noise_domain"] == "raw"
    assert "raw intensities" in raw.card["normalisation"]
    validate_card(raw.card)
    r = _run(pg_stack[0], raw, noise="poisson-gaussian")
    assert r.info.noise_kind == "poisson-gaussian" and r.info.transform is None


def test_gat_model_records_its_transform_and_always_runs_through_it(pg_stack, tmp_path):
    before = pg_stack.copy()
    gat = nd.train_noise2noise(pg_stack, pairs="neighbors", domain="gat", **TINY)
    assert np.array_equal(pg_stack, before)  # the input is never modified
    card = gat.card
    assert card["noise_domain"] == "gat"
    t = card["noise_transform"]
    assert t["kind"] == "gat" and t["a"] == pytest.approx(2.0, rel=0.15)
    assert "domain='gat'" in card["recipe"]
    validate_card(card)
    # whatever the noise model says, even Gaussian, it runs in its own domain
    r = _run(pg_stack[0], gat, noise="gaussian")
    assert r.info.transform == "gat" and "Anscombe domain" in r.info.sigma
    # saved and loaded by path, its card keeps the domain and the transform
    path = gat.save(tmp_path / "gat_model.safetensors")
    r = _run(pg_stack[0], str(path))
    assert r.info.transform == "gat"
    assert r.image.shape == pg_stack[0].shape and np.isfinite(r.image).all()


def test_gat_domain_refused_for_gaussian_data():
    rng = np.random.default_rng(1)
    img = data.camera()[:128, :128].astype(np.float32) + rng.normal(0, 10, (128, 128))
    with pytest.raises(ValueError, match="grows with brightness"):
        nd.train_noise2noise(np.stack([img, img + rng.normal(0, 10, img.shape)]),
                             domain="gat", **TINY)
