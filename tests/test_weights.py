"""Weights files: model-card schema, sha256, safe loading of bad files."""

import json
import pickle

import numpy as np
import pytest
import torch

import napari_denoise as nd
from napari_denoise.core.registry import pretrained_entries
from napari_denoise.core.weights import (
    CARD_SCHEMA, WeightsError, load_model, read_card, sha256, validate_card,
)

from conftest import tiny_card

SHIPPED = pretrained_entries()


def test_required_starter_weights_are_shipped():
    assert {"ffdnet_gray", "dncnn_blind"} <= set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_card_follows_schema_and_hash(name):
    e = SHIPPED[name]
    card = json.loads(e.path.with_suffix(".json").read_text())
    validate_card(card, shipped=True)
    assert card["sha256"] == sha256(e.path)
    assert card["file_size"] == e.path.stat().st_size
    assert e.path.stat().st_size < 8 * 2**20  # a few MB each (the U-Nets: 4.1 MiB in int8)
    model, loaded = load_model(e.path, verify_sha=card["sha256"])
    assert sum(p.numel() for p in model.parameters()) == card["parameters"]
    assert card["metrics"], "shipped weights record their measured metrics"


def test_shipped_weights_stay_small_together():
    """The wheel carries every shipped weight: 16 MiB at most in all."""
    assert sum(e.path.stat().st_size for e in SHIPPED.values()) < 16 * 2**20


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_cards_record_the_measured_bf16_cost(name):
    """bf16 runs by default only where benchmarks/precision.py measured its cost."""
    inf = SHIPPED[name].card.get("inference") or {}
    assert isinstance(inf.get("bf16_psnr_cost_db"), (int, float))
    assert isinstance(inf.get("ensemble_gain_db"), (int, float))


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_denoise(name):
    from skimage import data

    clean = data.camera()[128:256, 128:256].astype(np.float64)
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(clean + rng.normal(0, 25, clean.shape)), 0, 255).astype(np.uint8)
    out = nd.denoise(noisy, name, device="cpu")

    def psnr(x):
        return 10 * np.log10(255**2 / np.mean((x.astype(float) - clean) ** 2))

    assert psnr(out) > psnr(noisy) + 6


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_reproduce_their_card(name, precision):
    """The card's regression PSNR (benchmarks/update_cards.py, fp32) is reproduced within
    0.05 dB in fp32 and in bf16."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from update_cards import regression_psnr

    card = SHIPPED[name].card
    got = regression_psnr(name, precision)
    assert abs(got - card["metrics"]["regression"]["psnr"]) < 0.05


def test_schema_reports_every_problem():
    card = tiny_card(parameters=1)
    validate_card(card)
    bad = dict(card, dims=4)
    del bad["licence"]
    with pytest.raises(WeightsError) as exc:
        validate_card(bad)
    assert "licence" in str(exc.value) and "dims" in str(exc.value)
    with pytest.raises(WeightsError, match="sha256"):
        validate_card(card, shipped=True)
    assert set(CARD_SCHEMA) <= set(card)


def test_save_load_round_trip_gives_identical_outputs(tiny_model_file):
    model, card = load_model(tiny_model_file)
    assert card["name"] == "tiny" and read_card(tiny_model_file)["arch"] == "dncnn"
    x = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    a = nd.denoise(x, str(tiny_model_file), device="cpu")
    b = nd.denoise(x, model, device="cpu")
    np.testing.assert_array_equal(a, b)


def test_truncated_file_gives_clear_error(tiny_model_file, tmp_path):
    raw = tiny_model_file.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(WeightsError, match="cut.safetensors"):
        load_model(bad)
    with pytest.raises(ValueError, match="cut.safetensors"):
        nd.denoise(np.zeros((16, 16), np.float32) + np.eye(16, dtype=np.float32), str(bad))


def test_corrupt_header_gives_clear_error(tmp_path):
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + b"\x00" * 64)
    with pytest.raises(WeightsError, match="junk.safetensors"):
        load_model(bad)


def test_sha_mismatch_is_refused(tiny_model_file):
    with pytest.raises(WeightsError, match="sha256"):
        load_model(tiny_model_file, verify_sha="0" * 64)


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_pickled_checkpoint_is_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"model": _Evil()}, f)
    (tmp_path / "evil.json").write_text(json.dumps(tiny_card()))
    with pytest.raises(WeightsError, match="weights_only"):
        load_model(evil)
    assert not (tmp_path / "PWNED").exists()


def test_plain_state_dict_checkpoint_loads_with_card(tmp_path):
    from napari_denoise.core.archs import DnCNN

    m = DnCNN(depth=3, features=8)
    torch.save(m.state_dict(), tmp_path / "user.pt")
    (tmp_path / "user.json").write_text(json.dumps(tiny_card()))
    loaded, card = load_model(tmp_path / "user.pt")
    for k, v in m.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="not found"):
        nd.denoise(np.eye(16, dtype=np.float32), str(tmp_path / "nope.safetensors"))


def test_list_models_has_every_kind(tiny_model_file, monkeypatch):
    import shutil

    from napari_denoise.core.models import user_models_dir

    user_models_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_model_file, user_models_dir() / "mine.safetensors")
    models = {m["name"]: m for m in nd.list_models()}
    assert {"bm3d", "nlm", "tv", "wavelet"} <= set(models)
    assert models["bm3d"]["kind"] == "classical" and models["bm3d"]["description"]
    for name in SHIPPED:
        assert models[name]["kind"] == "pretrained" and models[name]["card"]["metrics"]
    assert "mine" in models, sorted(models)
    assert models["mine"]["kind"] == "user"
    assert models["mine"]["card"]["description"] == "tiny test network"


def test_int8_storage_halves_the_file_and_restores_float_weights(tmp_path):
    from napari_denoise.core.archs import DnCNN
    from napari_denoise.core.weights import load_state, save_model

    torch.manual_seed(0)
    net = DnCNN(depth=3, features=16)
    card = tiny_card(arch_args={"depth": 3, "features": 16})
    half = save_model(net, tmp_path / "half.safetensors", card, half=True)
    small = save_model(net, tmp_path / "int8.safetensors", card, int8=True)
    assert small.stat().st_size < 0.7 * half.stat().st_size
    state = load_state(small)
    assert not any(k.endswith(".int8_scale") for k in state)
    for k, v in net.state_dict().items():
        got = state[k]
        if not v.is_floating_point():  # counters stay as they are
            assert torch.equal(got, v)
            continue
        assert got.dtype == torch.float32 and got.shape == v.shape
        # at most half a quantisation step per output channel
        step = v.reshape(v.shape[0], -1).abs().amax(1) / 127 if v.ndim >= 2 else 0 * v
        err = (got - v).abs().reshape(v.shape[0], -1).amax(1) if v.ndim >= 2 else (got - v).abs()
        assert torch.all(err <= step / 2 + 1e-7)
    model, _ = load_model(small)
    x = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        assert torch.allclose(model(x), net.eval()(x), atol=2e-3)
