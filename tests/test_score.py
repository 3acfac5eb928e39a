"""Ground-truth-free scores (Noise2Self's J-invariant error, the residual check) and
tuning the strength with them: in the API, the engine and the command line."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import napari_denoise as nd
from napari_denoise.core.progress import Cancelled
from napari_denoise.core.score import _residual_stats, grid_phases, mask_phase

SIGMA = 0.08


def _scene(side=96, seed=0):
    """A smooth scene with edges in [0.1, 0.9] and its noisy version (known sigma)."""
    yy, xx = np.mgrid[:side, :side] / side
    clean = 0.5 + 0.25 * np.sin(6 * xx) * np.cos(4 * yy) + 0.15 * (xx > 0.5)
    noisy = clean + np.random.default_rng(seed).normal(0, SIGMA, clean.shape)
    return clean.astype(np.float32), noisy.astype(np.float32)


def test_mask_phase_hides_one_pixel_in_grid_squared_with_its_neighbours_mean():
    img = np.random.default_rng(1).random((12, 16)).astype(np.float32)
    out, mask = mask_phase(img, (1, 2), 4)
    assert mask.sum() == (12 // 4) * (16 // 4) and mask[1, 2] and mask[5, 6] and not mask[0, 0]
    assert np.array_equal(out[~mask], img[~mask])
    ring = (img[4:7, 5:8].sum() - img[5, 6]) / 8
    assert out[5, 6] == pytest.approx(ring, rel=1e-6)
    rgb = np.stack([img, 2 * img], -1)
    out_rgb, _ = mask_phase(rgb, (1, 2), 4)
    assert out_rgb[5, 6, 1] == pytest.approx(2 * ring, rel=1e-6)
    phases = grid_phases(4, 16)
    assert len(set(phases)) == 16 and len(set(p[0] for p in grid_phases(4, 4))) == 4


def test_score_ranks_identity_and_oversmoothing_below_the_right_strength():
    clean, noisy = _scene()
    kw = dict(sigma=SIGMA, data_range=(0, 1), crop=None)
    scores = {s: nd.score(noisy, "tv", strength=s, **kw) for s in (0.05, 1.0, 6.0)}
    assert scores[1.0].loss < scores[0.05].loss  # nearly the identity: all the noise left
    assert scores[1.0].loss < scores[6.0].loss   # far too strong: detail gone
    # the expected loss of a J-invariant denoiser is its true error plus the noise variance
    true = {s: float(np.mean((sc.output - clean) ** 2)) for s, sc in scores.items()}
    assert sorted(scores, key=lambda s: scores[s].loss) == sorted(true, key=true.get)
    assert scores[1.0].noise_variance == pytest.approx(SIGMA ** 2)
    assert scores[1.0].model == "tv" and scores[1.0].pixels == 4 * (96 // 4) ** 2


def test_tune_picks_a_strength_next_to_the_true_best():
    clean, noisy = _scene(seed=3)
    strengths = [0.25, 0.5, 1.0, 2.0, 4.0]
    tuned = nd.tune(noisy, ["wavelet"], strengths, sigma=SIGMA, data_range=(0, 1), crop=None)
    assert [s.loss for s in tuned.scores] == sorted(s.loss for s in tuned.scores)
    true = {s.strength: float(np.mean((s.output - clean) ** 2)) for s in tuned.scores}
    oracle = min(true, key=true.get)
    assert abs(strengths.index(tuned.best.strength) - strengths.index(oracle)) <= 1
    assert true[tuned.best.strength] <= 1.1 * true[oracle]
    text = tuned.table()
    assert text.count("wavelet") == 5 and "+0.0%" in text


def test_residual_check_flags_smoothed_detail_and_not_white_noise():
    from skimage import data

    clean = data.camera()[200:328, 200:328].astype(np.float32) / 255
    noisy = clean + np.random.default_rng(6).normal(0, SIGMA, clean.shape).astype(np.float32)
    ok = _residual_stats(noisy, clean, SIGMA ** 2)  # removed exactly the noise
    assert not ok.structure and ok.variance_ratio == pytest.approx(1.0, rel=0.1)
    assert max(abs(a) for a in ok.autocorrelation) < 0.05
    assert "looks like the noise" in ok.words()
    blurred = gaussian_filter(noisy, 4).astype(np.float32)
    bad = _residual_stats(noisy, blurred, SIGMA ** 2)
    assert bad.structure and "structure" in bad.words()
    assert bad.by_signal.shape[1] == 3 and len(bad.by_signal) >= 4


def test_denoise_with_tune_uses_the_best_strength_and_says_so():
    _, noisy = _scene(seed=4)
    strengths = [0.5, 1.0, 2.0]
    best = nd.tune(noisy, ["tv"], strengths, sigma=SIGMA, data_range=(0, 1)).best.strength
    gen = nd.denoise_iter(noisy, "tv", sigma=SIGMA, data_range=(0, 1), tune=strengths)
    from napari_denoise.core.progress import run_to_end

    res = run_to_end(gen)
    assert res.info.strength == best
    assert any(f"strength {best:g} chosen" in n for n in res.info.notes)
    direct = nd.denoise(noisy, "tv", sigma=SIGMA, data_range=(0, 1), strength=best)
    np.testing.assert_array_equal(res.image, direct)


def test_tune_refuses_what_it_cannot_do_and_can_be_cancelled():
    _, noisy = _scene()
    with pytest.raises(ValueError, match="positive"):
        nd.tune(noisy, ["tv"], [0.0, 1.0], sigma=SIGMA)
    with pytest.raises(ValueError, match="at least one method"):
        nd.tune(noisy, [], sigma=SIGMA)
    with pytest.raises(nd.DenoiseError, match="per-pixel map"):
        nd.denoise(noisy, "tv", sigma=np.full(noisy.shape, SIGMA, np.float32), tune=True)
    with pytest.raises(Cancelled):
        nd.tune(noisy, ["tv"], [1.0, 2.0], sigma=SIGMA, progress=lambda p: p.done < 1)
    with pytest.raises(ValueError, match="too small"):
        nd.score(noisy[:5, :5], "tv", sigma=SIGMA)


def test_cli_tune(tmp_path, capsys):
    import tifffile

    from napari_denoise.cli import main

    _, noisy = _scene(seed=5)
    src, dst = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, np.clip(noisy * 255, 0, 255).astype(np.uint8))
    assert main(["denoise", str(src), "-o", str(dst), "-m", "tv", "--tune", "0.5,1,2"]) == 0
    err = capsys.readouterr().err
    assert "chosen on this image" in err and "tried 0.5, 1, 2" in err
    assert tifffile.imread(dst).dtype == np.uint8
    rc = main(["denoise", str(src), "-o", str(tmp_path / "o2.tif"), "--tune", "1,x"])
    err = capsys.readouterr().err
    assert rc == 2 and "--tune: bad value '1,x'" in err and err.count("\n") == 1
    assert not (tmp_path / "o2.tif").exists()
