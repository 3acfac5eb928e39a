"""3-D self-training on volumes with thick slices: the voxel size shapes the patches and
the U-Net's pooling."""

import numpy as np
import pytest
import torch

import napari_denoise as nd
from napari_denoise.cli import main
from napari_denoise.core.archs.unet import UNet, pool_plan
from napari_denoise.core.training import pairs as P
from napari_denoise.core.training.n2n_config import Noise2NoiseConfig, anisotropy

TINY = {"features": 8, "levels": 2}


def test_pool_plan_pools_thick_slices_in_plane_until_voxels_are_cubic():
    assert pool_plan(3, 1.0) == [(2, 2, 2)] * 3
    # 0.3 um slices of 0.1 um pixels: in-plane only, then (0.3, 0.2) -> all axes
    assert pool_plan(3, 3.0) == [(1, 2, 2), (2, 2, 2), (2, 2, 2)]
    assert pool_plan(4, 8.0) == [(1, 2, 2)] * 3 + [(2, 2, 2)]
    # Z finer than the plane: Z first
    assert pool_plan(2, 0.25) == [(2, 1, 1), (2, 1, 1)]


def test_anisotropic_unet_keeps_the_shape_and_pads_z_less():
    net = UNet(dims=3, features=4, levels=3, anisotropy=4.0).eval()
    assert net.size_multiples == (2, 8, 8)
    x = torch.rand(1, 1, 5, 19, 22)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    # a cubic network halves Z three times: a 5-slice volume is padded to 8 inside
    assert UNet(dims=3, features=4, levels=3).size_multiples == (8, 8, 8)
    with pytest.raises(ValueError, match="3-D"):
        UNet(dims=2, anisotropy=2.0)
    with pytest.raises(ValueError, match="positive"):
        UNet(dims=3, anisotropy=0)


def test_patches_are_as_deep_in_microns_as_they_are_wide():
    vols = np.random.default_rng(0).normal(size=(2, 30, 40, 40)).astype(np.float32)
    cubic = P.TwoCapturesSampler(vols, vols[::-1].copy(), dims=3, patch=32, multiple=4,
                                 val_fraction=0)
    assert cubic.train_patch == (28, 32, 32)  # clamped to the 30 slices, multiple of 4
    thick = P.TwoCapturesSampler(vols, vols[::-1].copy(), dims=3, patch=32, multiple=4,
                                 anisotropy=4.0, z_multiple=2, val_fraction=0)
    assert thick.train_patch == (8, 32, 32)
    b = thick.batch(3)
    assert b.input.shape == (3, 1, 8, 32, 32) and b.target.shape == b.input.shape
    assert thick.describe()["anisotropy"] == 4.0
    assert anisotropy((0.4, 0.1, 0.1)) == pytest.approx(4.0)
    assert anisotropy(None) == 1.0


def test_voxel_size_is_checked():
    with pytest.raises(ValueError, match="dims=3"):
        Noise2NoiseConfig(voxel_size=(2, 1, 1))
    with pytest.raises(ValueError, match="three positive numbers"):
        Noise2NoiseConfig(dims=3, voxel_size=(2, 0, 1))
    with pytest.raises(ValueError, match="three positive numbers"):
        Noise2NoiseConfig(dims=3, voxel_size=(2, 1))
    cfg = Noise2NoiseConfig(dims=3, voxel_size=[0.5, 0.1, 0.1])
    assert cfg.voxel_size == (0.5, 0.1, 0.1)
    assert Noise2NoiseConfig.from_dict(cfg.as_dict()) == cfg


def test_training_with_a_voxel_size_builds_an_anisotropic_network(tmp_path):
    rng = np.random.default_rng(1)
    clean = rng.random((1, 10, 32, 32)).astype(np.float32)
    caps = clean + 0.1 * rng.standard_normal((3, 10, 32, 32)).astype(np.float32)
    trained = nd.train_noise2noise(caps, axes="TZYX", pairs="others", dims=3,
                                   voxel_size=(0.5, 0.125, 0.125), steps=2, batch=2,
                                   patch=16, arch_args=TINY, val_fraction=0)
    card = trained.card
    assert card["arch_args"]["anisotropy"] == 4.0
    assert card["training"]["patch"] == [4, 16, 16]
    assert "voxel_size=(0.5, 0.125, 0.125)" in card["recipe"]
    assert trained.module.pools == [(1, 2, 2), (1, 2, 2)]  # 0.5 um: never Z at 2 levels
    path = trained.save(tmp_path / "vol.safetensors")
    module, card2 = nd.load_model(path)
    assert module.pools == trained.module.pools
    out = nd.denoise(caps[0], model=str(path), axes="ZYX")
    assert out.shape == caps[0].shape and out.dtype == np.float32
    # arch_args given by the caller win over the voxel size
    own = nd.train_noise2noise(caps, axes="TZYX", pairs="others", dims=3,
                               voxel_size=(0.5, 0.125, 0.125), steps=1, batch=1, patch=16,
                               arch_args=dict(TINY, anisotropy=1.0), val_fraction=0)
    assert own.module.pools == [(2, 2, 2), (2, 2, 2)]
    assert own.card["training"]["patch"] == [4, 16, 16]  # patches still follow the voxels


def test_cli_reads_the_voxel_size_from_the_file(tmp_path, capsys):
    from napari_denoise.io import write_image
    from napari_denoise.io.meta import ImageMeta

    rng = np.random.default_rng(2)
    vol = (1000 + 50 * rng.standard_normal((2, 8, 32, 32))).astype(np.uint16)
    src = write_image(tmp_path / "vol.tif", vol,
                      ImageMeta(axes="TZYX", pixel_size={"Z": 0.8, "Y": 0.2, "X": 0.2},
                                unit="um"))
    out = tmp_path / "vol.safetensors"
    rc = main(["train", str(src), "--dims", "3", "--pairs", "two", "--target", str(src),
               "--steps", "1", "--batch", "1", "--patch", "16", "--features", "4",
               "--levels", "2", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "voxels 0.8 x 0.2 x 0.2 (Z Y X, from the file)" in err
    assert "patches of 4x16x16" in err
    _, card = nd.load_model(out)
    assert card["arch_args"]["anisotropy"] == 4.0
    # the flag overrides the file; it needs --dims 3
    rc = main(["train", str(src), "--dims", "3", "--voxel-size", "0.2", "0.2", "0.2",
               "--pairs", "two", "--target", str(src), "--steps", "1", "--batch", "1",
               "--patch", "16", "--features", "4", "--levels", "2", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "voxels 0.2 x 0.2 x 0.2 (Z Y X, --voxel-size)" in err
    assert "patches of 8x16x16" in err  # cubic, clamped to the file's 8 slices
    rc = main(["train", str(src), "--voxel-size", "1", "1", "1", "--steps", "1"])
    assert rc == 2 and "--voxel-size is for 3-D training" in capsys.readouterr().err


def test_automatic_pairs_treat_volumes_as_the_frames():
    from napari_denoise.core.training.strategy import choose_pairs

    rng = np.random.default_rng(3)
    # a volume whose slices look alike (thick, smooth): its planes are not frames in 3-D
    z = np.linspace(0, 1, 12)[:, None, None]
    y, x = np.mgrid[0:128, 0:128] / 128.0
    scene = (100 + 400 * np.sin(3 * x + 2 * y + 0.1 * z) ** 2).astype(np.float32)
    vol = scene + rng.normal(0, 10, scene.shape).astype(np.float32)
    pairs, why = choose_pairs(vol, "ZYX", dims=3)
    assert pairs == "blindspot" and "single volume" in why
    # captures of a still volume: each volume against the mean of the others
    caps = scene[None] + rng.normal(0, 10, (4,) + scene.shape).astype(np.float32)
    pairs, why = choose_pairs(caps, "TZYX", dims=3)
    assert pairs == "others" and "other volumes" in why
