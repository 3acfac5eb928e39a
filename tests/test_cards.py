"""Model cards are typed: unknown keys, wrong types and broken JSON are refused with a
one-line message naming the file and the key; user cards are checked when loaded. The
architecture registry keeps its built-ins whatever registers first."""

import json

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

import napari_denoise as nd
from conftest import tiny_card
from napari_denoise.core import registry
from napari_denoise.core.errors import WeightsError
from napari_denoise.core.weights import CARD_KEY, validate_card


def _with_card(tiny_model_file, tmp_path, card_text):
    bad = tmp_path / "user.safetensors"
    save_file(load_file(str(tiny_model_file)), str(bad), metadata={CARD_KEY: card_text})
    return bad


@pytest.mark.parametrize("change,words", [
    (dict(colour=True), "unknown key 'colour'"),
    (dict(channels="1"), "'channels'"),
    (dict(sigma_range=[0, 25, 50]), "sigma_range"),
])
def test_bad_user_cards_are_refused_when_loaded(tiny_model_file, tmp_path, change, words):
    path = _with_card(tiny_model_file, tmp_path, json.dumps(tiny_card(**change)))
    with pytest.raises(WeightsError, match=words) as info:
        nd.load_model(path)
    assert "user.safetensors" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(WeightsError):
        nd.denoise(np.eye(32, dtype=np.float32), str(path))


def test_broken_json_card_is_a_weights_error(tiny_model_file, tmp_path):
    path = _with_card(tiny_model_file, tmp_path, '{"name": "tiny", ')
    with pytest.raises(WeightsError, match="not valid JSON"):
        nd.load_model(path)
    side = tmp_path / "side.pt"
    side.write_bytes(b"x")
    side.with_suffix(".json").write_text("[1, 2]")
    with pytest.raises(WeightsError, match="not a JSON object"):
        nd.load_model(side)


def test_every_problem_is_listed_by_key():
    bad = tiny_card(dims="2", extra_thing=1)
    del bad["licence"]
    with pytest.raises(WeightsError) as info:
        validate_card(bad)
    msg = str(info.value)
    assert "missing 'licence'" in msg and "unknown key 'extra_thing'" in msg and "dims" in msg


def test_registry_keeps_builtins_when_something_registers_first(monkeypatch):
    monkeypatch.setattr(registry, "_ARCHS", {})

    @registry.register_arch("mine")
    def mine(**kw):
        return "mine"

    names = registry.arch_names()
    assert {"mine", "dncnn", "ffdnet", "unet", "drunet"} <= set(names)
    assert registry.create_arch("mine") == "mine"


def test_list_models_says_which_networks_need_a_noise_level():
    """The Denoise panel calls a network 'blind' from this: it must match the network."""
    import napari_denoise as nd
    from napari_denoise.core.models import resolve_denoiser

    for m in nd.list_models():
        if m["kind"] == "pretrained":
            assert m["needs_sigma"] == resolve_denoiser(m["name"], "cpu").takes_map, m["name"]
