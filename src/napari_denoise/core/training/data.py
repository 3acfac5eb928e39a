"""Images, patches, augmentation and synthetic noise for training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def load_folder(folder: str | Path, gray: bool = True) -> list[np.ndarray]:
    """All images of a folder as float32 in [0, 1], sorted by name."""
    from skimage import io
    from skimage.color import rgb2gray

    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
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
        self.images = [im for im in images if min(im.shape[:2]) >= patch]
        if not self.images:
            raise ValueError(f"no training image is at least {patch}x{patch}")
        self.patch = patch
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> np.ndarray:
        p = self.patch
        out = np.empty((n, 1, p, p), np.float32)
        for i in range(n):
            im = self.images[self.rng.integers(len(self.images))]
            y = self.rng.integers(im.shape[0] - p + 1)
            x = self.rng.integers(im.shape[1] - p + 1)
            out[i, 0] = augment(im[y:y + p, x:x + p], int(self.rng.integers(8)))
        return out


def add_noise(clean, noise: dict, generator=None):
    """Synthesise noise on a torch batch (N, C, ...) in [0, 1].

    ``noise`` is ``{"type": "gaussian", "sigma": s or [lo, hi]}`` (0-255 units) or
    ``{"type": "poisson-gaussian", "a": [lo, hi], "b": [lo, hi]}`` (variance
    a*x + b, in [0, 1] units). Returns (noisy, sigma_map) where sigma_map is the
    true per-pixel standard deviation, shape like ``clean``.
    """
    import torch

    n = clean.shape[0]
    shape = (n,) + (1,) * (clean.ndim - 1)
    kind = noise.get("type", "gaussian")

    def draw(spec):
        if isinstance(spec, (int, float)):
            return torch.full(shape, float(spec), device=clean.device)
        lo, hi = spec
        return lo + (hi - lo) * torch.rand(shape, generator=generator, device="cpu").to(clean.device)

    if kind == "gaussian":
        sigma = draw(noise["sigma"]) / 255.0
        sigma_map = sigma.expand_as(clean)
    elif kind == "poisson-gaussian":
        a = draw(noise["a"])
        b = draw(noise["b"])
        sigma_map = torch.sqrt(torch.clamp(a * clean + b, min=0))
    else:
        raise ValueError(f"unknown noise type {kind!r}")
    eps = torch.randn(clean.shape, generator=generator, device="cpu").to(clean.device)
    return clean + sigma_map * eps, sigma_map
