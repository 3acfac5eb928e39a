"""Stein's unbiased risk estimate (core/training/sure.py): the error of a denoiser's
output against the clean image, estimated without it, and the single-image trainings
that choose their checkpoint (and keep the starting network) by it."""

import numpy as np
from scipy.ndimage import gaussian_filter

import napari_denoise as nd
from napari_denoise.core.training.n2n_model import choice_words
from napari_denoise.core.training.sure import NoiseVariance, mc_sure, variance_map


def _scene(n=192):
    yy, xx = np.mgrid[:n, :n] / n
    img = 0.45 + 0.3 * np.sin(11 * xx + 4 * yy) * np.cos(8 * yy)
    img[n // 4: n // 2, n // 5: 3 * n // 4] += 0.2
    return img.astype(np.float32)


def _smoother(s):
    return lambda a: gaussian_filter(a, sigma=(0, 0, s, s), mode="reflect")


def _check(clean, noisy, variance):
    v = variance_map(noisy, variance)
    rows = []
    for s in (0.6, 1.2, 2.5, 5.0):
        f = _smoother(s)
        true = float(np.mean((f(noisy) - clean) ** 2))
        est = mc_sure(f, noisy, v, seed=1)
        rows.append((true, est))
        assert abs(est - true) < 0.12 * true + 2e-5, (s, true, est)
    true, est = np.array(rows).T
    assert np.argmin(est) == np.argmin(true)  # the best strength is found without the clean
    assert (np.argsort(est) == np.argsort(true)).all()


def test_sure_estimates_a_smoothers_error_under_gaussian_noise():
    rng = np.random.default_rng(0)
    clean = _scene()[None, None]
    sigma = 0.06
    noisy = (clean + sigma * rng.standard_normal(clean.shape)).astype(np.float32)
    _check(clean, noisy, NoiseVariance(0.0, 0.0, sigma**2))


def test_sure_estimates_a_smoothers_error_under_camera_noise():
    """Poisson-Gaussian: the variance follows the signal (gain 0.02, offset 0.05)."""
    rng = np.random.default_rng(1)
    clean = _scene()[None, None]
    var = NoiseVariance(0.02, 0.05, 1e-4)
    noisy = (clean + np.sqrt(var(clean)) * rng.standard_normal(clean.shape)).astype(np.float32)
    _check(clean, noisy, var)


def test_the_noise_models_variance():
    var = NoiseVariance(0.5, 0.1, 0.01)
    np.testing.assert_allclose(var(np.array([0.0, 0.1, 0.3])), [0.01, 0.01, 0.11], rtol=1e-6)
    assert var(np.zeros((2, 3))).shape == (2, 3)
    np.testing.assert_allclose(NoiseVariance(0.0, 0.0, 0.04)(np.ones(4)), 0.04)


def _camera_frame(n=128, seed=3):
    rng = np.random.default_rng(seed)
    signal = 40 + 300 * _scene(n)
    frame = rng.poisson(signal) + 100 + rng.normal(0, 2, (n, n))
    return frame.astype(np.float32), (signal + 100).astype(np.float32)


def test_single_image_training_keeps_the_starting_network_when_tuning_harms():
    """Blind-spot fine-tuning on a clean-cut camera frame: every step makes the output
    worse (true error from the clean image), while the masked loss the blind spot trains
    on goes *down*, so choosing by it kept a harmful checkpoint. Each checkpoint, and the
    network it started from, is now scored by SURE of the unmasked output (what the user
    gets): its differences follow the true ones, and the starting network is kept."""
    frame, clean = _camera_frame()
    kw = dict(pairs="blindspot", batch=4, patch=32, val_every=4, seed=0, reference=clean)
    tuned = nd.train_noise2noise(frame, steps=12, **kw)
    card, hist = tuned.card, tuned.history
    assert card["training"]["init"] == "drunet_microscopy"
    assert card["metrics"]["selection"].startswith("SURE")
    assert [h["step"] for h in hist] == [0, 4, 8, 12]
    true = np.array([10 ** (-h["val_psnr"] / 10) for h in hist])  # [0, 1] training scale
    est = np.array([h["val_loss"] for h in hist])
    masked = np.array([h["val_masked"] for h in hist])
    assert np.argmin(true) == 0 and np.argmin(masked) > 0  # the case the old rule lost
    np.testing.assert_allclose(est - est[0], true - true[0], rtol=0.25, atol=2e-5)
    assert (masked > 3 * true).all()  # the masked loss: noise plus error
    assert card["metrics"]["best_step"] == 0
    words = choice_words(card)  # what the Train panel and the CLI say
    assert words.startswith("kept the network it started from (drunet_microscopy, "
                            "estimated error"), words
    start = nd.train_noise2noise(frame, steps=1, lr=1e-12, **kw)
    np.testing.assert_allclose(nd.denoise(frame, model=tuned), nd.denoise(frame, model=start),
                               rtol=0, atol=1e-3 * float(np.ptp(frame)))


def test_stack_strategies_keep_their_validation_loss():
    """Frame pairs already score the unmasked output against an independent capture."""
    frames = np.stack([_camera_frame(96, seed=s)[0] for s in (5, 6, 7)])
    tuned = nd.train_noise2noise(frames, pairs="others", steps=2, batch=2, patch=32,
                                 val_every=2, seed=0)
    assert tuned.card["metrics"]["selection"] == "validation loss"
    assert all("val_masked" not in h for h in tuned.history)
