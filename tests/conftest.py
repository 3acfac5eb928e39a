import os

import numpy as np
import pytest

# keep tests predictable on the 2-core CI machine
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _user_models_dir(tmp_path_factory, monkeypatch):
    """Never read or write the real user's model folder from tests."""
    monkeypatch.setenv("NAPARI_DENOISE_MODELS", str(tmp_path_factory.mktemp("user_models")))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def tiny_card(**kw):
    card = dict(name="tiny", description="tiny test network", arch="dncnn",
                arch_args={"depth": 3, "features": 8}, dims=2, channels=1,
                noise_model="gaussian", sigma_range=[0, 55], normalisation="[0, 1]",
                training_data="none", recipe="none", metrics={}, licence="BSD-3-Clause",
                limitations="test only")
    card.update(kw)
    return card


@pytest.fixture
def tiny_model_file(tmp_path):
    import torch

    from napari_denoise.core.archs import DnCNN
    from napari_denoise.core.weights import save_model

    torch.manual_seed(0)
    return save_model(DnCNN(depth=3, features=8), tmp_path / "tiny.safetensors", tiny_card())


@pytest.fixture
def plugin():
    """The plugin's manifest, registered with npe2 unless installed (and so discovered)."""
    from pathlib import Path

    import npe2

    import napari_denoise

    pm = npe2.PluginManager.instance()
    try:
        pm.get_manifest("napari-denoise")
    except KeyError:
        pm.register(npe2.PluginManifest.from_file(Path(napari_denoise.__file__).parent / "napari.yaml"))
    return pm

