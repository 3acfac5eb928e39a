"""Self-supervised fine-tuning of the shipped noise-map networks (issue 15): the map
computed inside the model from a fitted noise model, and ``init="auto"``."""

import numpy as np
import pytest
import torch

import napari_denoise as nd
from napari_denoise.core.archs.mapped import NoiseMapped
from napari_denoise.core.noise import NoiseEstimate
from napari_denoise.core.training.n2n_config import Noise2NoiseConfig
from napari_denoise.core.training.n2n_setup import choose_init

SMALL_DRUNET = {"widths": [4, 8], "blocks": 1}


def _scene(n=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n] / n
    img = 0.5 + 0.3 * np.sin(9 * xx + 3 * yy) * np.cos(7 * yy)
    img[n // 4: n // 2, n // 4: 3 * n // 4] += 0.15
    return np.clip(img + 0.02 * rng.standard_normal((n, n)), 0, 1)


def _pg_stack(frames=4, n=96, gain=200.0, offset=100.0, seed=0):
    """Camera-like frames of one still scene: counts with shot and read noise."""
    rng = np.random.default_rng(seed)
    signal = _scene(n) * gain
    frames_ = rng.poisson(np.broadcast_to(signal, (frames, n, n))) + offset
    return (frames_ + rng.normal(0, 3, (frames, n, n))).astype(np.float32), signal + offset


def test_the_map_is_the_engines_map():
    """Inside the model: sqrt(gain * max(box5(x) - offset, 0) + read), as the engine's
    per-pixel map of the same Poisson-Gaussian model, in normalised units."""
    lo, hi, a, b_read, black = 100.0, 2100.0, 1.7, 9.0, 120.0
    est = NoiseEstimate(model="poisson-gaussian", sigma=np.sqrt(b_read), gain=a,
                        black_level=black)
    raw = (_scene(40) * (hi - lo) + lo).astype(np.float64)
    expected = est.sigma_map(raw) / (hi - lo)
    scale = hi - lo
    m = NoiseMapped("drunet", SMALL_DRUNET, gain=a / scale, offset=(black - lo) / scale,
                    read=b_read / scale**2)
    x = torch.from_numpy(((raw - lo) / scale).astype(np.float32))[None, None]
    got = m.noise_map(x)[0, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    # Gaussian: the same level everywhere
    g = NoiseMapped("drunet", SMALL_DRUNET, gain=0.0, read=0.05**2)
    assert torch.allclose(g.noise_map(x), torch.full_like(x, 0.05))


def test_wrapper_refuses_what_cannot_work():
    with pytest.raises(ValueError, match="no noise map"):
        NoiseMapped("unet", {"features": 8, "levels": 2})
    with pytest.raises(ValueError, match="gain"):
        NoiseMapped("drunet", SMALL_DRUNET, gain=-1.0)
    with pytest.raises(ValueError, match="smooth"):
        NoiseMapped("drunet", SMALL_DRUNET, smooth=4)


def test_auto_init_follows_the_noise_and_the_callers_choices():
    stack, _ = _pg_stack()
    cfg = Noise2NoiseConfig(init="auto")
    assert choose_init(cfg, stack) == "drunet_microscopy"
    rng = np.random.default_rng(1)
    gauss = (_scene(96)[None] + 0.05 * rng.standard_normal((4, 96, 96))).astype(np.float32)
    assert choose_init(cfg, gauss) == "drunet_gray"
    assert choose_init(cfg.replace(domain="gat"), stack) == "drunet_gray"
    # an architecture chosen, or a 3-D training: from scratch
    assert choose_init(cfg.replace(model="unet"), stack) is None
    assert choose_init(cfg.replace(arch_args={"features": 8}), stack) is None
    assert choose_init(cfg.replace(dims=3), stack) is None


def test_fine_tuning_the_shipped_network_improves_its_validation_loss(tmp_path):
    """Noise the shipped network was not trained for (spatially correlated, independent
    from frame to frame): Noise2Noise fine-tuning lowers its validation loss."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    noise = np.stack([gaussian_filter(rng.standard_normal((96, 96)), 1.0) for _ in range(4)])
    stack = (_scene(96)[None] + 0.08 * noise / noise.std()).astype(np.float32)
    tuned = nd.train_noise2noise(stack, pairs="others", steps=24, batch=4, patch=48,
                                 val_every=6, val_patches=8, seed=0)  # init="auto"
    card = tuned.card
    assert card["arch"] == "mapped" and card["arch_args"]["inner"] == "drunet"
    assert card["training"]["init"] == "drunet_gray" and card["arch_args"]["gain"] == 0
    assert "init='drunet_gray'" in card["recipe"]
    assert card["noise_domain"] == "raw" and card["noise_model"] == "gaussian"
    val = [h["val_loss"] for h in tuned.history]
    assert len(val) >= 4 and min(val[1:]) < 0.8 * val[0]  # step 0: the shipped weights
    # saved and reloaded, it denoises the same (the engine gives it its map)
    path = tuned.save(tmp_path / "tuned.safetensors")
    direct = nd.denoise(stack[0], model=tuned)
    again = nd.denoise(stack[0], model=str(path))
    np.testing.assert_allclose(again, direct, rtol=0, atol=1e-3)
    assert direct.dtype == stack.dtype and not np.array_equal(direct, stack[0])


def test_camera_noise_fine_tunes_the_microscopy_network_with_its_fitted_map():
    stack, _ = _pg_stack()
    tuned = nd.train_noise2noise(stack, pairs="others", steps=2, batch=2, patch=32,
                                 val_fraction=0)
    args = tuned.card["arch_args"]
    assert tuned.card["training"]["init"] == "drunet_microscopy"
    assert tuned.card["noise_model"] == "poisson-gaussian"
    lo, hi = tuned.card["data_range"]
    # the fitted gain in the training's units: about 1 count per count of signal; the
    # offset (100 counts, read variance 9) below the darkest pixels
    assert 0.7 < args["gain"] * (hi - lo) < 1.3
    assert args["read"] >= 0 and args["offset"] < 0
    out = nd.denoise(stack[1], model=tuned)
    assert out.shape == stack[1].shape and np.isfinite(out).all()


def test_cli_fine_tunes_by_default_and_says_so(tmp_path, capsys):
    from napari_denoise.cli import main
    from napari_denoise.io import write_image

    stack, _ = _pg_stack()
    src = tmp_path / "movie.tif"
    write_image(src, stack.astype(np.uint16))
    rc = main(["train", str(src), "--steps", "2", "--batch", "2", "--patch", "32",
               "-o", str(tmp_path / "tuned.safetensors")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "network: fine-tuning drunet_microscopy" in err and "--init none" in err
    _, card = nd.load_model(tmp_path / "tuned.safetensors")
    assert card["arch"] == "mapped" and card["training"]["init"] == "drunet_microscopy"
    rc = main(["train", str(src), "--steps", "2", "--batch", "2", "--patch", "32",
               "--init", "none", "-o", str(tmp_path / "scratch.safetensors")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "network:" not in err
    _, card = nd.load_model(tmp_path / "scratch.safetensors")
    assert card["arch"] == "unet" and card["training"]["init"] is None
    # a named network keeps its architecture: --levels is refused with it
    rc = main(["train", str(src), "--init", "drunet_gray", "--levels", "2", "--steps", "1"])
    assert rc == 2 and "--levels" in capsys.readouterr().err


def test_the_setup_is_said_in_words():
    stack, _ = _pg_stack()
    from napari_denoise.core.training.n2n import Noise2NoiseTrainer

    from napari_denoise.core.training.n2n_model import PAIR_WORDS

    tr = Noise2NoiseTrainer(stack, pairs="auto", steps=1, batch=2, patch=32)
    info = next(tr.run())  # the pairs chosen, why, and the network
    assert info["setup"] == f"{PAIR_WORDS[tr.pairs]}; fine-tuning drunet_microscopy"
    assert info["setup_reason"].startswith("a stack of 4 ")
    tr = Noise2NoiseTrainer(stack, pairs="others", init=None, steps=1, batch=2, patch=32)
    assert next(tr.run())["setup"] == ("Noise2Noise against the mean of the other frames; "
                                       "unet from scratch")
