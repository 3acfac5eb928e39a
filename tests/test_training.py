"""The supervised training pipeline: learning happens, resume is exact, recipes validate."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_denoise.core.training.data import PatchSampler, add_noise, augment
from napari_denoise.core.training.supervised import Recipe, Trainer, lr_at

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.json"))


@pytest.fixture(scope="module")
def images():
    from skimage import data

    cam = data.camera().astype(np.float32) / 255
    return [cam[:96, :96], cam[200:296, 200:296], cam[300:396, 100:196]]


def _recipe(**kw):
    r = dict(name="tiny", arch="dncnn", arch_args={"depth": 4, "features": 16},
             noise={"type": "gaussian", "sigma": 25}, patch=32, batch=8, steps=60,
             lr=2e-3, warmup=5, val_every=30, ckpt_every=1000, val_sigmas=[25], seed=3)
    r.update(kw)
    return Recipe.from_dict(r)


def test_short_training_lowers_loss_and_raises_psnr(images, tmp_path):
    torch.set_num_threads(1)
    tr = Trainer(_recipe(), tmp_path, tmp_path, device="cpu", images=images,
                 val_images=[images[0][:64, :64]], log=lambda m: None)
    before = tr.validate()
    losses = [tr.train_step() for _ in range(60)]
    after = tr.validate()
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])
    assert after > before + 1.0


def test_resume_continues_exactly(images, tmp_path):
    torch.set_num_threads(1)
    kw = dict(device="cpu", images=images, val_images=[], log=lambda m: None)
    straight = Trainer(_recipe(steps=12), tmp_path, tmp_path / "a", **kw)
    for _ in range(12):
        straight.train_step()

    first = Trainer(_recipe(steps=12), tmp_path, tmp_path / "b", **kw)
    for _ in range(6):
        first.train_step()
    ckpt = first.save_checkpoint()
    second = Trainer(_recipe(steps=12), tmp_path, tmp_path / "b", **kw)
    second.load_checkpoint(ckpt)
    assert second.step == 6
    for _ in range(6):
        second.train_step()
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k


def test_export_writes_valid_card(images, tmp_path):
    from napari_denoise.core.weights import load_model, validate_card

    tr = Trainer(_recipe(steps=2), tmp_path, tmp_path, device="cpu", images=images,
                 val_images=[images[0][:48, :48]], log=lambda m: None)
    tr.run()
    path = tr.export(tmp_path, metrics={"BSD68": {}})
    card = json.loads(path.with_suffix(".json").read_text())
    validate_card(card, shipped=True)
    model, _ = load_model(path, verify_sha=card["sha256"])
    assert card["training"]["steps"] == 2


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_load_and_validate(path):
    r = Recipe.load(path)
    assert r.name == path.stem
    from napari_denoise.core.registry import create_arch

    create_arch(r.arch, **r.arch_args)


def test_recipe_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown recipe keys: colour"):
        Recipe.from_dict({"name": "x", "arch": "dncnn", "colour": True})
    with pytest.raises(ValueError, match="unknown arch"):
        Recipe.from_dict({"name": "x", "arch": "transformer9000"})
    with pytest.raises(ValueError, match="steps must be positive"):
        Recipe.from_dict({"name": "x", "arch": "dncnn", "steps": 0})


def test_cosine_schedule_warms_up_and_decays():
    r = _recipe(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.01)
    assert lr_at(0, r) < lr_at(9, r) <= 1.0
    assert lr_at(50, r) < lr_at(10, r)
    assert lr_at(100, r) == pytest.approx(0.01)


def test_augment_covers_the_eight_symmetries():
    x = np.arange(9).reshape(3, 3)
    outs = {augment(x, k).tobytes() for k in range(8)}
    assert len(outs) == 8


def test_noise_synthesis_has_the_requested_level():
    g = torch.Generator().manual_seed(0)
    clean = torch.full((4, 1, 64, 64), 0.5)
    noisy, smap = add_noise(clean, {"type": "gaussian", "sigma": 25}, g)
    assert float((noisy - clean).std()) == pytest.approx(25 / 255, rel=0.05)
    noisy, smap = add_noise(clean, {"type": "poisson-gaussian", "a": [0.01, 0.01],
                                    "b": [1e-4, 1e-4]}, g)
    expected = np.sqrt(0.01 * 0.5 + 1e-4)
    assert float((noisy - clean).std()) == pytest.approx(expected, rel=0.05)
    assert torch.allclose(smap, torch.full_like(smap, expected))


def test_patch_sampler_rejects_too_small_images():
    with pytest.raises(ValueError, match="at least 64x64"):
        PatchSampler([np.zeros((32, 32), np.float32)], 64)


def test_poisson_gaussian_synthesis_exact_clipped_and_map_from_noisy():
    g = torch.Generator().manual_seed(0)
    clean = torch.full((4, 1, 64, 64), 0.05)
    spec = {"type": "poisson-gaussian", "a": 0.01, "b": 0.0, "exact": True, "clip": True,
            "quantize": 255, "map": "noisy"}
    noisy, smap = add_noise(clean, spec, g)
    # real Poisson counts: 5 photons on average, multiples of a, never negative
    assert float(noisy.min()) >= 0.0
    counts = noisy / 0.01
    assert abs(float(counts.mean()) - 5.0) < 0.1 and abs(float(counts.var()) - 5.0) < 0.3
    assert torch.allclose(noisy * 255, torch.round(noisy * 255))
    # the map comes from the (box-filtered) noisy image, so it varies pixel to pixel
    assert float(smap.std()) > 0 and abs(float(smap.mean()) - (0.01 * 0.05) ** 0.5) < 0.003


def _fake_w2s(root, fields, shape=(96, 96)):
    import tifffile

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for f in fields:
        for c in range(3):
            clean = 0.2 + 0.6 * np.exp(-((yy - 48 - 10 * c) ** 2 + (xx - 40 - 5 * f) ** 2) / 400.0)
            a = 0.02
            noisy = np.clip(a * rng.poisson(clean / a), 0, 1)
            (root / "noisy").mkdir(parents=True, exist_ok=True)
            (root / "clean").mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(root / "noisy" / f"input_avg1_{f:03d}_{c}.tif",
                             (noisy * 255).round().astype(np.uint8))
            # the reference is rescaled on its own, as in W2S: gain and offset differ
            tifffile.imwrite(root / "clean" / f"target_avg400_{f:03d}_{c}.tif",
                             (clean * 0.8 * 255 + 20).round().astype(np.uint8))


def test_training_on_real_pairs_with_affine_validation(tmp_path):
    torch.set_num_threads(1)
    _fake_w2s(tmp_path / "microscopy" / "W2S", [1, 2, 3])
    r = _recipe(arch="ffdnet", arch_args={"depth": 4, "features": 16, "residual": True},
                train_pairs={"dataset": "w2s", "root": "microscopy/W2S", "fields": [1, 2]},
                val_pairs={"dataset": "w2s", "root": "microscopy/W2S", "fields": [3, 3]},
                patch=32, batch=8, steps=120, lr=3e-3, warmup=5)
    tr = Trainer(r, tmp_path, tmp_path / "out", device="cpu", log=lambda m: None)
    assert len(tr.pairs) == 6 and tr.pairs[0].shape == (3, 96, 96)
    # the clean target was matched to the noisy capture's scale (gain and offset removed)
    p = tr.pairs[0]
    assert abs(float(p[1].mean()) - float(p[0].mean())) < 0.01
    assert float(p[2].min()) > 0  # the estimated Poisson-Gaussian map
    before = tr.validate()
    for _ in range(120):
        tr.train_step()
    after = tr.validate()
    assert after > before + 1.0
    path = tr.export(tmp_path / "out")
    card = json.loads(path.with_suffix(".json").read_text())
    assert "val_affine_psnr_w2s" in card["training"]


def test_recipe_rejects_bad_pairs_spec():
    with pytest.raises(ValueError, match="train_pairs"):
        Recipe.from_dict({"name": "x", "arch": "ffdnet", "train_pairs": {"dataset": "other"}})


def test_poisson_gaussian_noisy_map_equals_the_inference_map_at_the_border():
    """``"map": "noisy"`` is the map inference computes, border pixels included (the box
    average pads like scipy's "reflect": the edge pixel repeated, c b a | a b c)."""
    from napari_denoise.core.noise import NoiseEstimate

    a, b = 0.002, 1e-4
    g = torch.Generator().manual_seed(5)
    yy, xx = torch.meshgrid(torch.linspace(0.2, 0.8, 23), torch.linspace(0.3, 0.7, 31),
                            indexing="ij")
    clean = (0.2 + yy * xx + 0.1 * torch.rand(23, 31, generator=g))[None, None]
    noise = {"type": "poisson-gaussian", "a": a, "b": b, "map": "noisy"}
    noisy, smap = add_noise(clean, noise, generator=g)
    assert smap.shape == clean.shape
    img = noisy[0, 0].numpy()
    assert img.min() > 0  # positive signal: both formulas are plain sqrt(a * box5 + b)
    ref = NoiseEstimate.poisson_gaussian(a, b).sigma_map(img)
    got = smap[0, 0].numpy()
    assert not np.array_equal(got[2:-2, 2:-2], np.sqrt(a * img[2:-2, 2:-2] + b))  # smoothed
    np.testing.assert_allclose(got[2:-2, 2:-2], ref[2:-2, 2:-2], rtol=0, atol=1e-5)  # interior
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)  # and the two-pixel border


def test_pairs_mixed_with_synthetic_noise_resume_exactly_and_validate_both(tmp_path):
    """``synthetic_share``: part of every batch is clean patches (train_data's images and
    the pairs' references) with the recipe's synthetic noise; ``val_pg_gains`` adds
    Poisson-Gaussian validation cases on the validation references."""
    import tifffile

    torch.set_num_threads(1)
    _fake_w2s(tmp_path / "microscopy" / "W2S", [1, 2, 3])
    (tmp_path / "train").mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        tifffile.imwrite(tmp_path / "train" / f"img_{i}.tif",
                         (rng.random((64, 64)) * 255).astype(np.uint8))
    pg = {"type": "poisson-gaussian", "a": [0.001, 0.05], "log_a": True, "b": [0, 0.001],
          "map": "noisy"}
    r = _recipe(arch="ffdnet", arch_args={"depth": 4, "features": 16, "residual": True},
                train_data="train", noise=pg, synthetic_share=0.5, val_pg_gains=[0.001, 0.01],
                train_pairs={"dataset": "w2s", "root": "microscopy/W2S", "fields": [1, 2]},
                val_pairs={"dataset": "w2s", "root": "microscopy/W2S", "fields": [3, 3]},
                patch=32, batch=8, steps=12)
    kw = dict(device="cpu", log=lambda m: None)
    straight = Trainer(r, tmp_path, tmp_path / "a", **kw)
    # synthetic sources: the 2 training images and the 6 references of the pairs
    assert len(straight.synth_sampler.images) == 2 + 6
    cases = list(straight._val_cases())
    assert len(cases) == 3 + 2 * 3  # 3 real validation pairs, 2 gains on their references
    quiet, loud = cases[3][0] - cases[3][2], cases[-1][0] - cases[-1][2]
    assert 0 < float(np.std(quiet)) < float(np.std(loud))
    for _ in range(12):
        straight.train_step()
    first = Trainer(r, tmp_path, tmp_path / "b", **kw)
    for _ in range(5):
        first.train_step()
    second = Trainer(r, tmp_path, tmp_path / "b", **kw)
    second.load_checkpoint(first.save_checkpoint())
    for _ in range(7):
        second.train_step()
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k
    # the synthetic half changes the training: without it the weights differ
    plain = Trainer(r.model_copy(update={"synthetic_share": 0.0}), tmp_path, tmp_path / "c", **kw)
    for _ in range(12):
        plain.train_step()
    assert any(not torch.equal(v, plain.model.state_dict()[k])
               for k, v in straight.model.state_dict().items())


def test_init_from_a_network_with_more_blocks(images, tmp_path):
    """A thinner DRUNet (one block at full resolution) starts from the uniform one's
    weights: every level keeps its first blocks, and the run goes on from there."""
    from safetensors.torch import save_file

    from napari_denoise.core.registry import create_arch

    widths = [8, 16, 32]
    full = create_arch("drunet", widths=widths, blocks=2)
    path = tmp_path / "full.safetensors"
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(path))
    r = _recipe(arch="drunet", arch_args={"widths": widths, "blocks": [1, 2, 2]}, steps=2)
    tr = Trainer(r, tmp_path, tmp_path / "thin", device="cpu", images=images, val_images=[],
                 log=lambda m: None)
    tr.init_from(path)
    own = tr.model.state_dict()
    assert torch.equal(own["down.0.1.weight"], full.state_dict()["down.0.2.weight"])
    assert torch.equal(own["body.0.c1.weight"], full.state_dict()["body.0.c1.weight"])
    assert np.isfinite(tr.train_step())
