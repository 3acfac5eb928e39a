"""Inference precision (bf16 where the CPU has it and the model's card allows it) and the
x8 self-ensemble (quality="best")."""

import numpy as np
import pytest
import torch
from torch import nn

import napari_denoise as nd
from napari_denoise.core import precision
from napari_denoise.core.ensemble import DIHEDRAL, self_ensemble
from napari_denoise.core.errors import DenoiseError
from napari_denoise.core.precision import inference_dtype
from napari_denoise.core.progress import run_to_end

CPU = torch.device("cpu")
CHEAP = {"inference": {"bf16_psnr_cost_db": 0.01}}
COSTLY = {"inference": {"bf16_psnr_cost_db": 0.08}}


@pytest.fixture
def bf16_cpu(monkeypatch):
    def set_(has: bool):
        monkeypatch.setattr(precision, "cpu_has_bf16", lambda: has)
        monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    return set_


def test_auto_picks_bf16_only_on_capable_cpus_for_models_it_costs_little(bf16_cpu):
    bf16_cpu(True)
    assert inference_dtype(CPU, "auto", CHEAP) is torch.bfloat16
    assert inference_dtype(CPU, "auto", COSTLY) is None        # costs too much: fp32
    assert inference_dtype(CPU, "auto", {}) is None            # never measured: fp32
    assert inference_dtype(CPU, "fp32", CHEAP) is None         # the switch wins
    bf16_cpu(False)
    assert inference_dtype(CPU, "auto", CHEAP) is None         # no native bf16: fp32
    assert inference_dtype(CPU, "bf16", {}) is torch.bfloat16  # forced


def test_unknown_precision_or_quality_is_one_line(rng):
    img = rng.random((32, 32)).astype(np.float32)
    for kw, word in ((dict(precision="fp8"), "precision"), (dict(quality="max"), "quality")):
        with pytest.raises(DenoiseError, match=word) as info:
            nd.denoise(img, "tv", sigma=0.1, **kw)
        assert "\n" not in str(info.value)


def test_info_says_the_precision_that_ran(bf16_cpu, rng, monkeypatch):
    img = rng.random((48, 48)).astype(np.float32)
    bf16_cpu(True)
    # a card that allows bf16 runs in bf16 on a capable CPU, fp32 when told
    from napari_denoise.core import models

    den = models.resolve_denoiser("ffdnet_gray", "cpu")
    monkeypatch.setitem(den.card, "inference", {"bf16_psnr_cost_db": 0.0})
    r = nd.denoise_iter(img, den, sigma=0.1)
    assert run_to_end(r).info.precision == "bf16"
    r = nd.denoise_iter(img, den, sigma=0.1, precision="fp32")
    assert run_to_end(r).info.precision == "fp32"
    r = nd.denoise_iter(img, "tv", sigma=0.1)
    assert run_to_end(r).info.precision is None  # classical


class _Conv(nn.Module):
    """A one-layer network with a given 3x3 kernel; the noise map is ignored."""

    in_channels, takes_noise_map, rf_radius, size_multiple = 1, True, 1, 1

    def __init__(self, kernel):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False, padding_mode="reflect")
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(kernel, dtype=torch.float32)[None, None])

    def forward(self, x, smap=None):
        return self.conv(x)


def test_ensemble_of_an_equivariant_model_is_the_model():
    iso = _Conv([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) .eval()
    x = torch.rand(1, 1, 24, 40)
    with torch.no_grad():
        assert torch.allclose(self_ensemble(iso, x), iso(x), atol=1e-6)


def test_ensemble_averages_the_eight_transforms_of_other_models():
    shift = _Conv([[0, 0, 0], [0, 0, 1], [0, 0, 0]]).eval()  # x[i, j + 1]: not symmetric
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        ens = self_ensemble(shift, x)
        assert not torch.allclose(ens, shift(x), atol=1e-3)
        # by hand: the mean of the 4 neighbours, as the 8 transforms shift in 4 directions
        pad = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
        mean4 = (pad[..., 1:-1, 2:] + pad[..., 1:-1, :-2] + pad[..., 2:, 1:-1]
                 + pad[..., :-2, 1:-1]) / 4
        assert torch.allclose(ens, mean4, atol=1e-6)
    assert len(set(DIHEDRAL)) == 8


def test_ensemble_turns_the_noise_map_with_the_image():
    class MapOnly(_Conv):
        def forward(self, x, smap=None):
            return smap[:, :1, :, :].expand_as(x) if smap.ndim == 4 else x

    net = MapOnly([[0] * 3] * 3)
    x, m = torch.rand(1, 1, 12, 20), torch.rand(1, 1, 12, 20)
    assert torch.allclose(self_ensemble(net, x, m), m, atol=1e-6)


def test_quality_best_runs_the_ensemble_end_to_end(rng):
    from skimage import data

    clean = data.camera()[100:196, 100:196].astype(np.float64)
    noisy = np.clip(np.rint(clean + rng.normal(0, 25, clean.shape)), 0, 255).astype(np.uint8)
    fast = run_to_end(nd.denoise_iter(noisy, "ffdnet_gray", sigma=25, precision="fp32"))
    best = run_to_end(nd.denoise_iter(noisy, "ffdnet_gray", sigma=25, precision="fp32",
                                         quality="best"))
    assert best.info.quality == "best" and fast.info.quality == "fast"
    assert best.image.dtype == np.uint8 and not np.array_equal(best.image, fast.image)

    def psnr(x):
        return 10 * np.log10(255**2 / np.mean((x.astype(float) - clean) ** 2))

    assert psnr(best.image) > psnr(fast.image)  # averaging 8 estimates helps


def test_quality_best_on_a_classical_method_runs_once_with_a_note(rng):
    img = rng.random((32, 32)).astype(np.float32)
    res = run_to_end(nd.denoise_iter(img, "tv", sigma=0.1, quality="best"))
    assert res.info.quality == "fast" and any("ran once" in n for n in res.info.notes)
    assert np.array_equal(res.image, nd.denoise(img, "tv", sigma=0.1))


# -- retired models -----------------------------------------------------------------------

def test_retired_names_run_their_successor_with_a_notice(tmp_path, monkeypatch):
    from conftest import tiny_card
    from napari_denoise.core import models, registry
    from napari_denoise.core.archs import DnCNN
    from napari_denoise.core.weights import save_model

    d = tmp_path / "weights"
    save_model(DnCNN(depth=3, features=8), d / "newnet.safetensors",
               tiny_card(name="newnet", replaces=["oldnet", "ffdnet_gray"]),
               write_card_json=True)
    monkeypatch.setattr(registry, "weights_dirs", lambda: [d])

    assert models.retired_models() == {"oldnet": "newnet", "ffdnet_gray": "newnet"}
    assert models.aliases()["ffdnet"] == "newnet"  # the short name follows the retirement
    img = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    for old in ("OldNet", "ffdnet_gray", "ffdnet"):
        res = run_to_end(nd.denoise_iter(img, old, sigma=0.05))
        assert res.info.model == "newnet"
        assert any(f"'{old}'" in n and "newnet" in n for n in res.info.notes)
    assert any("retired" in n for n in
               run_to_end(nd.denoise_iter(img, "oldnet", sigma=0.05)).info.notes)


def test_a_bf16_run_leaves_the_full_precision_model_as_it_was(rng):
    img = rng.random((40, 40)).astype(np.float32)
    first = nd.denoise(img, "ffdnet_gray", sigma=0.1, precision="fp32")
    reduced = nd.denoise(img, "ffdnet_gray", sigma=0.1, precision="bf16")
    again = nd.denoise(img, "ffdnet_gray", sigma=0.1, precision="fp32")
    assert np.array_equal(first, again)
    assert not np.array_equal(first, reduced)  # bf16 did run
    assert np.abs(first - reduced).max() < 0.02
