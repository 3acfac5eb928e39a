"""The typed settings of self-supervised training: checked, equivalent to keywords,
stored in checkpoints."""

import numpy as np
import pytest

import napari_denoise as nd
from napari_denoise.core.training.n2n import Noise2NoiseConfig, Noise2NoiseTrainer

TINY = {"features": 8, "levels": 2}


def _stack(frames=4, n=32, seed=0):
    rng = np.random.default_rng(seed)
    return (0.5 + rng.normal(0, 0.1, (frames, n, n))).astype(np.float32)


@pytest.mark.parametrize("field, value", [
    ("pairs", "pairs-of-socks"), ("loss", "l3"), ("steps", 0), ("steps", "many"),
    ("minutes", -1), ("minutes", float("inf")), ("batch", 0), ("lr", 0), ("patch", 4),
    ("dims", 4), ("val_fraction", 0.5), ("mask_fraction", 0.5), ("gamma", -1),
    ("weight_decay", -0.1), ("distance", 0), ("distance", "far"), ("seed", "x"),
    ("val_every", "often"), ("arch_args", [8, 2]),
])
def test_a_bad_value_is_refused_in_one_line_naming_the_field(field, value):
    with pytest.raises(ValueError) as err:
        Noise2NoiseConfig(**{field: value})
    msg = str(err.value)
    assert msg.startswith(field) and "\n" not in msg, msg
    with pytest.raises(ValueError, match=f"^{field}"):  # the keyword form: the same check
        Noise2NoiseTrainer(_stack(), **{field: value})


def test_unknown_option_is_named_and_config_is_frozen():
    with pytest.raises(TypeError, match="stepz"):
        Noise2NoiseConfig.build(stepz=3)
    with pytest.raises(TypeError, match="stepz"):
        Noise2NoiseTrainer(_stack(), stepz=3)
    cfg = Noise2NoiseConfig()
    with pytest.raises(AttributeError):
        cfg.steps = 3
    assert cfg.replace(steps=3).steps == 3 and cfg.steps is None
    norm = Noise2NoiseConfig(pairs="Subsample", loss="L1", steps="5", val_every=0)
    assert (norm.pairs, norm.loss, norm.steps, norm.val_every) == ("subsample", "l1", 5, 1)


def test_keywords_and_config_give_the_same_trainer():
    import torch

    stack = _stack()
    opts = dict(steps=3, batch=2, arch_args=TINY, val_every=2, seed=4, lr=2e-3)
    cfg = Noise2NoiseConfig(**opts)
    by_kw = Noise2NoiseTrainer(stack, **opts)
    by_cfg = Noise2NoiseTrainer(stack, cfg)
    mixed = Noise2NoiseTrainer(stack, Noise2NoiseConfig(steps=99, seed=4), **{
        k: v for k, v in opts.items() if k != "seed"})  # keywords replace config fields
    assert by_kw.config == by_cfg.config == mixed.config == cfg
    for t in (by_kw, by_cfg, mixed):
        for _ in t.run():
            pass
    for a, b, c in zip(by_kw.model.state_dict().values(), by_cfg.model.state_dict().values(),
                       mixed.model.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)
    def timeless(history):
        return [{k: v for k, v in h.items() if k != "elapsed"} for h in history]

    assert timeless(by_kw.history) == timeless(by_cfg.history) == timeless(mixed.history)
    trained = nd.train_noise2noise(stack, cfg)
    assert trained.card["recipe"] == by_cfg.result().card["recipe"]


def test_checkpoint_round_trips_the_config(tmp_path):
    from napari_denoise.core.training.n2n_checkpoint import read_config

    ck = tmp_path / "t.ckpt"
    cfg = Noise2NoiseConfig(steps=2, batch=2, arch_args=TINY, checkpoint=ck, name="mine",
                            distance="any", seed=3)
    trainer = Noise2NoiseTrainer(_stack(), cfg)
    for _ in trainer.run():
        pass
    back = read_config(ck)
    assert back == cfg.replace(checkpoint=str(ck))  # paths are stored as text
    assert back.as_dict() == cfg.as_dict()
    again = Noise2NoiseTrainer(_stack(), back, resume=ck)
    assert again.step == 2 and again.config == back
