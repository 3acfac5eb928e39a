"""Self-supervised (Noise2Noise, Neighbor2Neighbor, Noise2Void) training on tiny data."""

import numpy as np
import pytest

import napari_denoise as nd
from napari_denoise.core.training import pairs as P

TINY = {"features": 8, "levels": 2}  # a U-Net that trains in seconds on one core
PREFIX = "napari-denoise: error: "


def _scene(n=48):
    yy, xx = np.mgrid[:n, :n]
    return (0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32)


def _stack(frames=8, n=48, sigma=0.1, seed=0):
    """A still scene filmed ``frames`` times, independent Gaussian noise per frame."""
    clean = _scene(n)
    rng = np.random.default_rng(seed)
    return (clean + rng.normal(0, sigma, (frames, n, n))).astype(np.float32), clean


def _psnr(x, ref, data_range=1.0):
    return 10 * np.log10(data_range**2 / np.mean((np.asarray(x, np.float64) - ref) ** 2))


# -- samplers ---------------------------------------------------------------------------

def _check_batch(b, n, pshape):
    assert b.input.dtype == np.float32 and b.target.dtype == np.float32
    assert b.input.shape == b.target.shape == (n, 1) + pshape
    x, y = b  # unpacks as (input, target)
    assert x is b.input and y is b.target


@pytest.mark.parametrize("kind", ["neighbors", "two", "subsample", "blindspot"])
def test_sampler_geometry_pairs_and_disjoint_validation(kind):
    stack, _ = _stack(frames=6)
    other = _stack(frames=6, seed=1)[0]
    common = dict(patch=32, multiple=4, seed=3)
    cls = {"neighbors": P.NeighborFramesSampler, "two": P.TwoCapturesSampler,
           "subsample": P.SubsampleSampler, "blindspot": P.BlindSpotSampler}[kind]
    args = {"two": [stack, other], "subsample": [stack[0]]}.get(kind, [stack])
    s = cls(*args, **common)
    from napari_denoise.core.normalise import estimate_range

    assert (s.lo, s.hi) == estimate_range(args[0])  # the rule denoise applies
    b = s.batch(5)
    half = kind == "subsample"
    pshape = tuple(p // 2 for p in s.train_patch) if half else s.train_patch
    _check_batch(b, 5, pshape)
    assert abs(float(b.noisy.mean()) - 0.5) < 0.25  # scaled to about [0, 1]
    for i, loc in enumerate(b.locations):
        # no pair of identical noise realisations
        assert not np.allclose(b.input[i], b.target[i])
        if kind == "neighbors":
            assert loc.partner != loc.frame and abs(loc.partner - loc.frame) == 1
    if kind == "subsample":
        assert b.full.shape == (5, 1) + s.train_patch
        assert b.idx1.shape == b.input.shape and np.all(b.idx1 != b.idx2)
        np.testing.assert_array_equal(P.subsample(b.full, b.idx1), b.input)
        np.testing.assert_array_equal(P.subsample(b.full, b.idx2), b.target)
        import torch

        t = P.subsample(torch.from_numpy(b.full), torch.from_numpy(b.idx2))
        np.testing.assert_array_equal(t.numpy(), b.target)
    if kind == "blindspot":
        assert b.mask.shape == b.input.shape
        per_patch = b.mask.reshape(5, -1).sum(1)
        assert np.all(per_patch == round(b.input[0].size / 64))  # 1/64 of the pixels
        changed = b.input != b.target
        assert not np.any(changed & (b.mask == 0))  # only masked pixels are replaced
        assert changed[b.mask == 1].mean() > 0.9

    # validation: a fixed set, apart from everything training draws
    v1, v2 = s.val_batch(), s.val_batch()
    assert v1 is v2 and len(v1) == s.val_patches
    assert not s.train_region.overlaps(s.val_region)
    for _ in range(10):
        assert all(s.train_region.contains(loc) for loc in s.batch(8).locations)
    assert all(s.val_region.contains(loc) for loc in v1.locations)

    # the seed makes batches reproducible
    again = cls(*args, **common)
    np.testing.assert_array_equal(again.batch(5).input, b.input)


def test_sampler_split_3d_and_options():
    stack, _ = _stack(frames=20, n=32)
    s = P.NeighborFramesSampler(stack, distance="any", patch=64, seed=0)
    assert s.split == "frames 18-19 of 20"  # enough frames: the last 10% held apart
    assert s.train_patch == (32, 32)  # clamped to the data
    far = [abs(loc.frame - loc.partner) for loc in s.batch(64).locations]
    assert max(far) > 1
    assert all(0 <= loc.frame < 18 for loc in s.batch(16).locations)
    # a single image: a strip of rows held apart
    one = P.BlindSpotSampler(stack[0], patch=64, seed=0)
    assert one.split.startswith("rows") and one.val_region.rows[1] == 32
    # neighbours along the middle axis of (Y?, T, Y, X): pairs keep the other index
    tz = np.stack([stack[:5], stack[5:10]], 1)  # (5, 2, 32, 32): T, Z, Y, X
    s = P.NeighborFramesSampler(tz, axis=0, patch=16)
    assert s.frames == 5 and s.groups == 2
    # 3-D patches from volumes (T, Z, Y, X), in-plane cells for subsample
    vols = np.random.default_rng(0).normal(size=(2, 12, 24, 24)).astype(np.float32)
    s3 = P.SubsampleSampler(vols, dims=3, patch=16, multiple=4)
    b = s3.batch(2)
    assert b.full.shape == (2, 1, 12, 16, 16) and b.input.shape == (2, 1, 12, 8, 8)
    with pytest.raises(ValueError, match="subsample"):
        P.NeighborFramesSampler(stack[:1])
    with pytest.raises(ValueError, match="differ in shape"):
        P.TwoCapturesSampler(stack, stack[:3])


# -- training -----------------------------------------------------------------------------

def test_tiny_unet_raises_psnr_of_a_noisy_stack():
    stack, clean = _stack()
    seen = []
    trained = nd.train_noise2noise(stack, steps=150, lr=3e-3, arch_args=TINY, reference=clean,
                                   val_every=50, progress=seen.append, seed=0)
    assert seen[-1]["phase"] == "done" and seen[-1]["step"] == 150
    assert {"step", "total", "loss", "val_loss", "val_psnr", "elapsed"} <= set(seen[5])
    den = nd.denoise(stack, model=trained)
    assert den.shape == stack.shape and den.dtype == np.float32
    assert abs(float(den.mean()) - float(clean.mean())) < 0.02  # back in data units
    gain = _psnr(den, clean) - _psnr(stack, clean)
    assert gain > 4, gain
    hist = trained.history
    assert [h["step"] for h in hist] == [0, 50, 100, 150]
    assert hist[-1]["val_psnr"] > hist[0]["val_psnr"] + 3
    card = trained.card
    from napari_denoise.core.weights import validate_card

    validate_card(card)
    assert card["noise_model"] == "self-supervised" and card["sigma_range"] == [0, 0]
    assert card["metrics"]["pairs"] == "neighbors" and card["metrics"]["steps"] == 150
    assert "(8, 48, 48)" in card["description"] and "float32" in card["training_data"]
    assert trained.module.training is False


@pytest.mark.parametrize("pairs", ["two", "subsample", "blindspot"])
def test_other_pairs_train(pairs):
    stack, clean = _stack(frames=4)
    kw = {"target": _stack(frames=4, seed=5)[0]} if pairs == "two" else {"pairs": pairs}
    trained = nd.train_noise2noise(stack, steps=4, batch=4, arch_args=TINY, val_every=2,
                                   reference=clean, **kw)
    assert trained.card["metrics"]["pairs"] == pairs
    assert all(np.isfinite(h["val_loss"]) for h in trained.history)
    assert nd.denoise(stack[0], model=trained).shape == (48, 48)


def test_3d_unet_on_volumes():
    vols = np.random.default_rng(0).normal(0.5, 0.1, (3, 8, 24, 24)).astype(np.float32)
    trained = nd.train_noise2noise(vols, dims=3, pairs="neighbors", steps=2, batch=2,
                                   patch=16, arch_args=TINY, val_fraction=0)
    assert trained.card["dims"] == 3 and trained.module.dims == 3
    assert nd.denoise(vols[0], model=trained, axes="ZYX").shape == (8, 24, 24)


def test_stop_returns_the_best_model_so_far():
    stack, _ = _stack(frames=4)
    steps = []

    def progress(info):
        steps.append(info["step"])

    trained = nd.train_noise2noise(stack, steps=1000, batch=2, arch_args=TINY, val_every=4,
                                   progress=progress, stop=lambda: len(steps) > 10)
    m = trained.card["metrics"]
    assert m["steps"] == 10 < 1000  # stopped early
    assert trained.history[-1]["step"] == 10  # the last state was validated too
    best = min(trained.history, key=lambda h: h["val_loss"])
    assert m["best_step"] == best["step"] and m["val_loss"] == best["val_loss"]
    # the generator form: a true value sent in stops it as well
    gen = nd.train_noise2noise_iter(stack, steps=1000, batch=2, arch_args=TINY)
    infos = [next(gen), next(gen), gen.send(True)]  # start, step 1, stop -> done
    with pytest.raises(StopIteration) as done:
        while True:
            infos.append(next(gen))
    assert isinstance(done.value.value, nd.TrainedModel)
    assert infos[-1]["phase"] == "done" and done.value.value.card["metrics"]["steps"] == 1


def test_stop_requested_before_the_first_step_ends_the_run_at_once():
    from napari_denoise.core.training.n2n import Noise2NoiseTrainer

    stack, _ = _stack(frames=4)
    trainer = Noise2NoiseTrainer(stack, steps=4, batch=2, arch_args=TINY)
    trainer.request_stop()  # before run() is even started
    gen = trainer.run()
    infos = []
    with pytest.raises(StopIteration) as done:
        while True:
            infos.append(next(gen))
            assert len(infos) < 10, "the early stop was lost: training goes on"
    trained = done.value.value
    assert trainer.step == 0 and [i["phase"] for i in infos] == ["start", "done"]
    assert isinstance(trained, nd.TrainedModel) and trained.card["metrics"]["steps"] == 0
    # asked between the start report and the first step: the same
    trainer = Noise2NoiseTrainer(stack, steps=4, batch=2, arch_args=TINY)
    gen = trainer.run()
    assert next(gen)["phase"] == "start"
    trainer.request_stop()
    assert next(gen)["phase"] == "done" and trainer.step == 0
    # the request is used up: the next run trains its steps
    for info in trainer.run():
        pass
    assert trainer.step == 4 and info["phase"] == "done"


def test_closed_generator_and_time_budget(monkeypatch):
    import time

    from napari_denoise.core.training import n2n_trainer
    from napari_denoise.core.training.n2n import Noise2NoiseTrainer

    stack, _ = _stack(frames=4)
    trainer = Noise2NoiseTrainer(stack, steps=1000, batch=2, arch_args=TINY)
    gen = trainer.run()
    for _ in range(4):  # start + 3 steps, then the napari worker is aborted
        next(gen)
    gen.close()
    best = trainer.best_so_far()  # the current weights are validated and compete
    assert trainer.step == 3 and best.history[-1]["step"] == 3
    # minutes alone: the schedule is fitted to the steps that fit in the time. The
    # trainer's clock is a fake one that moves TICK at every reading (a few per step), so
    # the result does not depend on how busy the machine is.
    tick = 0.02

    class FakeTime:
        now = 0.0
        strftime = staticmethod(time.strftime)

        @classmethod
        def perf_counter(cls):
            cls.now += tick
            return cls.now

    monkeypatch.setattr(n2n_trainer, "time", FakeTime)  # the training loop's clock
    infos = []
    trained = nd.train_noise2noise(stack, minutes=0.02, batch=2, arch_args=TINY,
                                   progress=infos.append)  # 1.2 s of the fake clock
    assert infos[0]["total"] is None and infos[-1]["total"] is not None
    steps = infos[-1]["step"]
    assert steps >= 5 and steps == infos[-1]["total"]  # the fitted schedule, run to its end
    per_step = infos[-1]["elapsed"] / steps
    assert 1.2 - 2 * per_step <= infos[-1]["elapsed"] <= 1.2 + 2 * per_step
    assert trained.card["metrics"]["steps"] == steps


def test_save_load_and_use_by_name(tmp_path):
    stack, _ = _stack(frames=4)
    trained = nd.train_noise2noise(stack, steps=3, batch=2, arch_args=TINY, name="my scope")
    direct = nd.denoise(stack, model=trained)
    path = trained.save()  # the user models folder (a temporary one in tests)
    from napari_denoise.core.models import user_models_dir

    assert path == user_models_dir() / "my_scope.safetensors" and trained.path == path
    listed = {m["name"]: m for m in nd.list_models()}
    assert listed["my_scope"]["kind"] == "user"
    assert listed["my_scope"]["card"]["noise_model"] == "self-supervised"
    by_path = nd.denoise(stack, model=str(path))
    by_name = nd.denoise(stack, model="my_scope")
    np.testing.assert_array_equal(direct, by_path)
    np.testing.assert_array_equal(direct, by_name)
    module, card = nd.load_model(path)
    assert card["metrics"]["steps"] == 3 and card["arch_args"]["features"] == 8
    # fine-tuning starts from the saved weights
    tuned = nd.train_noise2noise(stack, init="my_scope", steps=1, batch=2, val_fraction=0,
                                 save=tmp_path / "tuned")
    assert tuned.path == tmp_path / "tuned.safetensors" and tuned.path.exists()
    assert "init='my_scope'" in tuned.card["recipe"]


def test_single_frame_with_neighbors_suggests_subsample():
    stack, _ = _stack(frames=1)
    for data, kw in [(stack, {}), (stack[0], {}), (stack[0], {"axes": "YX"})]:
        with pytest.raises(ValueError, match="subsample"):
            nd.train_noise2noise(data, steps=1, arch_args=TINY, **kw)
    with pytest.raises(ValueError, match="ffdnet"):
        nd.train_noise2noise(stack[0], pairs="subsample", model="ffdnet")


def test_resume_continues_exactly(tmp_path):
    import torch

    from napari_denoise.core.training.n2n import Noise2NoiseTrainer

    stack, _ = _stack(frames=4)
    opts = dict(steps=12, batch=2, arch_args=TINY, val_every=3, seed=7)

    def run(trainer, stop=None):
        gen = trainer.run(stop=stop)
        try:
            while True:
                next(gen)
        except StopIteration as done:
            return done.value

    whole = Noise2NoiseTrainer(stack, **opts)
    run(whole)

    ck = tmp_path / "n2n.ckpt"
    first = Noise2NoiseTrainer(stack, checkpoint=ck, **opts)
    run(first, stop=lambda: first.step >= 6)
    assert first.step == 6 and ck.exists()
    second = Noise2NoiseTrainer(stack, resume=ck, **opts)
    assert second.step == 6 and [h["step"] for h in second.history] == [0, 3, 6]
    assert second.opt.state_dict()["state"][0]["step"] == 6  # optimiser state came back
    result = run(second)
    assert second.step == 12 and [h["step"] for h in result.history] == [0, 3, 6, 9, 12]
    # same seed, same steps: the same weights as the uninterrupted run
    for (k, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert [h["val_loss"] for h in result.history] == [h["val_loss"] for h in whole.history]
    with pytest.raises(ValueError, match="other data"):
        Noise2NoiseTrainer(stack[:3], resume=ck, **opts)


# -- the command line -------------------------------------------------------------------

def test_cli_train_then_denoise(tmp_path, capsys):
    from napari_denoise.cli import main
    from napari_denoise.io import read_image, write_image

    stack, clean = _stack(frames=6)
    u16 = np.clip(stack * 1000 + 100, 0, 65535).astype(np.uint16)
    src, model, dst = tmp_path / "movie.tif", tmp_path / "m" / "mine.safetensors", \
        tmp_path / "clean.tif"
    write_image(src, u16)
    rc = main(["train", str(src), "--steps", "4", "--batch", "2", "--features", "8",
               "--levels", "2", "--seed", "1", "-o", str(model)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert model.exists() and f"saved {model}" in out and "4 steps" in out
    assert "kept the best model (step" in out
    rc = main(["denoise", str(src), "-o", str(dst), "--model", str(model)])
    out, err = capsys.readouterr()
    assert rc == 0, err and "mine" in out
    den, _ = read_image(dst)
    assert den.shape == u16.shape and den.dtype == np.uint16

    # default: the user models folder, by name; then 'denoise --model NAME'
    rc = main(["train", str(src), "--pairs", "blindspot", "--steps", "2", "--batch", "2",
               "--features", "8", "--levels", "2", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0 and out == "", err
    rc = main(["denoise", str(src), "-o", str(dst), "--model", "movie_n2n", "-q"])
    assert rc == 0, capsys.readouterr().err

    # a single frame with neighbour pairs asked for: one line, pointing at subsample
    # (the default, --pairs auto, takes blind spot for a single image)
    one = tmp_path / "one.tif"
    write_image(one, u16[0])
    rc = main(["train", str(one), "--pairs", "neighbors", "--steps", "2",
               "-o", str(tmp_path / "x.safetensors")])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith(PREFIX), err
    assert "subsample" in lines[0] and not (tmp_path / "x.safetensors").exists()
    rc = main(["train", str(src), "-o", str(tmp_path / "x.pt")])
    assert rc == 2 and ".safetensors" in capsys.readouterr().err


def test_a_non_finite_gradient_is_not_applied():
    """One step whose gradient is not finite (a bf16 kernel overflowing, say) leaves the
    weights as they were instead of turning them all into NaN; training goes on."""
    import torch

    from napari_denoise.core.training.n2n import Noise2NoiseTrainer

    vols = np.random.default_rng(0).normal(0.5, 0.1, (3, 24, 24)).astype(np.float32)
    tr = Noise2NoiseTrainer(vols, pairs="neighbors", steps=3, batch=2, patch=16,
                            arch_args=TINY, val_fraction=0, init=None)
    p = next(tr.model.parameters())
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    hook = p.register_hook(lambda g: torch.full_like(g, float("nan")))
    tr.train_step()
    hook.remove()
    for k, v in tr.model.state_dict().items():
        assert torch.equal(v, before[k]), k  # the step was skipped
    assert np.isfinite(tr.train_step())
    assert all(torch.isfinite(v).all() for v in tr.model.state_dict().values())
