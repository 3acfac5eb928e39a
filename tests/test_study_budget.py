"""The architecture study's fixed-step budget (benchmarks/study_common.train_steps): it
stops at the step count, validates on schedule, and resumes exactly from a checkpoint."""

import sys
from pathlib import Path

import numpy as np
import torch

from napari_denoise.core.training.recipe import Recipe
from napari_denoise.core.training.supervised import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import study_common as sc  # noqa: E402


def _trainer(images, out):
    r = Recipe.from_dict(dict(name="tiny", arch="dncnn", arch_args={"depth": 3, "features": 8},
                              noise={"type": "gaussian", "sigma": 25}, patch=24, batch=4,
                              steps=10 ** 9, lr=2e-3, warmup=1, val_every=10 ** 9,
                              ckpt_every=10 ** 9, val_sigmas=[25], seed=3))
    tr = Trainer(r, out, out, device="cpu", images=images, val_images=[images[0][:32, :32]],
                 log=lambda m: None)
    if tr.ckpt_path.exists():
        tr.load_checkpoint()
    return tr


def test_step_budget_stops_validates_and_resumes_exactly(tmp_path):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    images = [rng.random((48, 48)).astype(np.float32) for _ in range(3)]
    straight = _trainer(images, tmp_path / "a")
    sc.train_steps(straight, 6, 3, log=lambda m: None)
    assert straight.step == 6 and [h["step"] for h in straight.history] == [3, 6]
    assert straight.r.steps == 6  # the cosine ends with the budget

    first = _trainer(images, tmp_path / "b")  # the same budget, stopped after step 3
    first.r.steps = 6
    for _ in range(3):
        first.train_step()
    first.save_checkpoint()
    resumed = _trainer(images, tmp_path / "b")
    assert resumed.step == 3
    sc.train_steps(resumed, 6, 3, log=lambda m: None)
    for k, v in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v)
