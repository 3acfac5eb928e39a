"""Noise2NoiseTrainer between runs: extend() (the Train widget's Resume) and move_to(),
without Qt or a viewer, on a tiny U-Net that trains in a fraction of a second."""

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_denoise.core.training.n2n import Noise2NoiseTrainer  # noqa: E402

TINY = {"features": 8, "levels": 2}


def _stack(frames=4, n=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    clean = 0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    return (clean + rng.normal(0, 0.1, (frames, n, n))).astype(np.float32)


def _run(trainer):
    gen = trainer.run()
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value


@pytest.fixture
def finished():
    """A trainer that ran its whole schedule of 3 steps."""
    trainer = Noise2NoiseTrainer(_stack(), steps=3, batch=2, patch=16, arch_args=TINY,
                                 device="cpu")
    _run(trainer)
    assert trainer.step == trainer.total == 3
    return trainer


def test_a_finished_schedule_goes_on_for_the_steps_asked(finished):
    finished.extend(steps=2)
    assert finished.total == 5 and finished.minutes is None
    result = _run(finished)
    assert finished.step == 5 and result.card["metrics"]["steps"] == 5


def test_a_finished_schedule_with_minutes_only_is_sized_by_time(finished):
    finished.extend(minutes=0.5)
    assert finished.total is None and finished.minutes == 0.5


def test_a_finished_schedule_without_a_budget_doubles_at_least_100_steps(finished):
    finished.extend()
    assert finished.total == 3 + 100 and finished.minutes is None
    finished.step = 250  # as if it had trained longer
    finished.total = 250
    finished.extend()
    assert finished.total == 500


def test_steps_win_over_minutes_and_minutes_are_the_next_runs_limit(finished):
    finished.extend(steps=4, minutes=2)
    assert finished.total == 7 and finished.minutes == 2.0


def test_an_unfinished_schedule_runs_to_its_end():
    trainer = Noise2NoiseTrainer(_stack(), steps=50, batch=2, patch=16, arch_args=TINY,
                                 device="cpu", minutes=1)
    trainer.extend(steps=7)  # not finished: the total stays, only the time limit changes
    assert trainer.total == 50 and trainer.minutes is None
    trainer.extend(minutes=3)
    assert trainer.total == 50 and trainer.minutes == 3.0


@pytest.mark.parametrize("kw", [dict(steps=0), dict(steps=-2), dict(steps=True),
                                dict(minutes=0), dict(minutes=-1.0)])
def test_bad_budgets_are_refused_with_the_name(finished, kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        finished.extend(**kw)
    assert finished.total == 3  # unchanged


def test_move_to_moves_the_network_and_the_optimiser_state(finished):
    import torch

    finished.move_to("cpu")
    tensors = [v for state in finished.opt.state.values() for v in state.values()
               if torch.is_tensor(v)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert all(p.device.type == "cpu" for p in finished.model.parameters())
    finished.move_to(finished.device)  # and back: training goes on
    finished.extend(steps=1)
    _run(finished)
    assert finished.step == 4
