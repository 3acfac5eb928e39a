"""Images, patches, augmentation and synthetic noise for training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def load_folder(folder: str | Path, gray: bool = True, exclude=(), only=None) -> list[np.ndarray]:
    """All images of a folder as float32 in [0, 1], sorted by name.

    ``exclude``: file names left out (a held-apart validation split); ``only``: the
    file names to take (that split), in the order given.
    """
    from skimage import io
    from skimage.color import rgb2gray

    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if only is not None:
        by_name = {p.name: p for p in files}
        missing = [n for n in only if n not in by_name]
        if missing:
            raise FileNotFoundError(f"not in {folder}: {', '.join(missing)}")
        files = [by_name[n] for n in only]
    files = [p for p in files if p.name not in set(exclude)]
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    out = []
    for p in files:
        im = io.imread(p)
        scale = 255.0 if im.dtype == np.uint8 else float(np.iinfo(im.dtype).max) \
            if im.dtype.kind in "ui" else 1.0
        im = im.astype(np.float32) / scale
        if gray and im.ndim == 3:
            im = rgb2gray(im[..., :3]).astype(np.float32)
        out.append(im)
    return out


def augment(patch: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of the dihedral group (k in 0..7) on the last two axes."""
    if k >= 4:
        patch = patch[..., ::-1]
    return np.rot90(patch, k % 4, axes=(-2, -1))


class PatchSampler:
    """Random square patches with random flips/rotations from a list of 2D images."""

    def __init__(self, images: list[np.ndarray], patch: int, seed: int = 0):
        # 2D images, or (C, H, W) arrays whose channels are cropped together (pairs)
        self.images = [im for im in images if min(im.shape[-2:]) >= patch]
        if not self.images:
            raise ValueError(f"no training image is at least {patch}x{patch}")
        self.patch = patch
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> np.ndarray:
        p = self.patch
        c = 1 if self.images[0].ndim == 2 else self.images[0].shape[0]
        out = np.empty((n, c, p, p), np.float32)
        for i in range(n):
            im = self.images[self.rng.integers(len(self.images))]
            y = self.rng.integers(im.shape[-2] - p + 1)
            x = self.rng.integers(im.shape[-1] - p + 1)
            out[i] = augment(im[..., y:y + p, x:x + p], int(self.rng.integers(8)))
        return out


def add_noise(clean, noise: dict, generator=None):
    """Synthesise noise on a torch batch (N, C, ...) in [0, 1].

    ``noise`` is ``{"type": "gaussian", "sigma": s or [lo, hi]}`` (0-255 units) or
    ``{"type": "poisson-gaussian", "a": [lo, hi], "b": [lo, hi]}`` (variance
    a*x + b, in [0, 1] units; ``a`` drawn log-uniformly when ``"log_a": true``).
    Poisson-Gaussian options: ``"exact": true`` draws real Poisson counts
    (``a * Poisson(x / a)``; default: the Gaussian approximation), ``"clip": true``
    clips to [0, 1] like a camera's ADC, ``"quantize": 255`` rounds to that many
    levels, and ``"map": "noisy"`` returns the map the inference engine would
    compute, ``sqrt(a * box5(noisy) + b)``, instead of the true one.
    Returns (noisy, sigma_map), sigma_map shaped like ``clean``.
    """
    import torch
    import torch.nn.functional as F

    from ..archs._layers import pad_symmetric

    n = clean.shape[0]
    shape = (n,) + (1,) * (clean.ndim - 1)
    kind = noise.get("type", "gaussian")

    def draw(spec, log=False):
        if isinstance(spec, (int, float)):
            return torch.full(shape, float(spec), device=clean.device)
        lo, hi = spec
        u = torch.rand(shape, generator=generator, device="cpu").to(clean.device)
        if log:
            return torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
        return lo + (hi - lo) * u

    if kind == "gaussian":
        sigma = draw(noise["sigma"]) / 255.0
        sigma_map = sigma.expand_as(clean)
        eps = torch.randn(clean.shape, generator=generator, device="cpu").to(clean.device)
        return clean + sigma_map * eps, sigma_map
    if kind != "poisson-gaussian":
        raise ValueError(f"unknown noise type {kind!r}")
    a = draw(noise["a"], log=bool(noise.get("log_a", False)))
    b = draw(noise["b"])
    eps = torch.randn(clean.shape, generator=generator, device="cpu").to(clean.device)
    if noise.get("exact", False):
        rate = torch.clamp(clean, min=0) / a
        counts = torch.poisson(rate.cpu(), generator=generator).to(clean.device)
        noisy = a * counts + torch.sqrt(b) * eps
    else:
        noisy = clean + torch.sqrt(torch.clamp(a * clean + b, min=0)) * eps
    if noise.get("clip", False):
        noisy = torch.clamp(noisy, 0.0, 1.0)
    q = noise.get("quantize")
    if q:
        noisy = torch.round(noisy * q) / q
    if noise.get("map", "true") == "noisy" and clean.ndim == 4:
        sig = F.avg_pool2d(pad_symmetric(noisy, 2), 5, stride=1)
    else:
        sig = clean
    sigma_map = torch.sqrt(torch.clamp(a * sig + b, min=0))
    return noisy, sigma_map


# -- real noisy/clean pairs ---------------------------------------------------

def affine_match(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``s * src + o`` with (s, o) the least-squares fit of ``src`` onto ``ref``."""
    x = src.astype(np.float64).ravel()
    y = ref.astype(np.float64).ravel()
    A = np.stack([x, np.ones_like(x)], 1)
    (s, o), *_ = np.linalg.lstsq(A, y, rcond=None)
    return (s * src.astype(np.float64) + o)


def w2s_files(root: str | Path, fields) -> list[tuple[Path, Path]]:
    """(noisy, clean) file pairs of W2S fields ``fields = [first, last]`` (inclusive), all channels."""
    root = Path(root)
    lo, hi = int(fields[0]), int(fields[1])
    out = []
    for f in range(lo, hi + 1):
        for c in range(3):
            n = root / "noisy" / f"input_avg1_{f:03d}_{c}.tif"
            t = root / "clean" / f"target_avg400_{f:03d}_{c}.tif"
            if n.exists() and t.exists():
                out.append((n, t))
    if not out:
        raise FileNotFoundError(f"no W2S pairs for fields {lo}-{hi} under {root}")
    return out


def load_pairs(root: str | Path, fields, with_map: bool = True) -> list[np.ndarray]:
    """W2S pairs as (3, H, W) float32 arrays: noisy, clean matched to the noisy scale, sigma map.

    The clean 400-frame average is mapped onto the noisy capture's intensity scale
    with a least-squares gain and offset (the two were rescaled separately), and the
    noise map is what the inference engine computes from the noisy image alone
    (a Poisson-Gaussian fit, then ``sqrt(a * box5(noisy) + b)``).
    """
    import tifffile

    from ..noise import estimate_noise

    out = []
    for pn, pt in w2s_files(root, fields):
        noisy = tifffile.imread(pn).astype(np.float32) / 255.0
        clean = affine_match(tifffile.imread(pt).astype(np.float32) / 255.0, noisy)
        if with_map:
            est = estimate_noise(noisy, model="poisson-gaussian")
            smap = est.sigma_map(noisy)
        else:
            smap = np.zeros_like(noisy)
        out.append(np.stack([noisy, clean.astype(np.float32), smap]).astype(np.float32))
    return out
