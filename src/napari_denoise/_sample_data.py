"""Deterministic noisy sample images with known noise, built from what scikit-image ships.

Nothing is downloaded: the scenes are ``skimage.data.camera()`` and ``coins()``
(bundled with scikit-image) and ``binary_blobs`` (generated). Each function
returns the noisy data, the clean data and the noise parameters, so denoising
results can be scored.

The ``make_sample_*`` functions are napari sample-data contributions: they return
lists of napari ``LayerData`` tuples ``(data, kwargs, "image")``. This module does
not import napari (or Qt, or torch).
"""

from __future__ import annotations

import numpy as np

__all__ = ["noisy_camera", "noisy_stack", "noisy_timeseries", "make_sample_2d",
           "make_sample_3d", "make_sample_timeseries"]


def noisy_camera(sigma: float = 25, seed: int = 0):
    """The ``camera`` image (512x512 uint8) with additive Gaussian noise.

    Returns ``(noisy_uint8, clean_uint8, sigma)``; ``sigma`` is in 0-255 units. The
    noisy image is rounded and clipped to uint8 (so the noise is slightly below
    ``sigma`` in saturated areas).
    """
    from skimage import data

    clean = data.camera()
    rng = np.random.default_rng(seed)
    noisy = clean.astype(np.float64) + rng.normal(0.0, float(sigma), clean.shape)
    noisy = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return noisy, clean, float(sigma)


def _poisson_gaussian(photons: np.ndarray, gain: float, offset: float, read_sigma: float,
                      rng: np.random.Generator) -> np.ndarray:
    """Camera model: ``offset + gain * Poisson(photons) + N(0, read_sigma)``, as uint16."""
    counts = rng.poisson(photons).astype(np.float64)
    adu = offset + gain * counts + rng.normal(0.0, read_sigma, photons.shape)
    return np.clip(np.rint(adu), 0, 65535).astype(np.uint16)


def _expected(photons: np.ndarray, gain: float, offset: float) -> np.ndarray:
    return np.clip(np.rint(offset + gain * photons), 0, 65535).astype(np.uint16)


def _noise_params(gain, offset, read_sigma, max_photons, background):
    return {"noise_model": "poisson-gaussian", "gain": float(gain), "offset": float(offset),
            "read_sigma": float(read_sigma), "max_photons": float(max_photons),
            "background_photons": float(background),
            "variance": "gain**2 * photons + read_sigma**2 (ADU^2); "
                        "photons = (clean - offset) / gain"}


def noisy_stack(shape=(16, 128, 128), *, max_photons: float = 60.0, background: float = 5.0,
                gain: float = 2.0, offset: float = 100.0, read_sigma: float = 3.0, seed: int = 0):
    """A small 3-D stack (Z, Y, X) of blurred blobs imaged in low light, uint16.

    The scene is ``skimage.data.binary_blobs`` in 3-D (generated, not downloaded),
    smoothed like an optical section; the noise is Poisson-Gaussian with a camera
    ``gain`` (ADU per photon), ``offset`` and ``read_sigma`` (ADU).

    Returns ``(noisy, clean, params)``: ``clean`` is the expected value (uint16).
    """
    from scipy import ndimage
    from skimage.data import binary_blobs

    nz, ny, nx = (int(s) for s in shape)
    length = max(nz, ny, nx)
    blobs = binary_blobs(length=length, n_dim=3, volume_fraction=0.25,
                         blob_size_fraction=0.08, rng=seed)
    z0 = (length - nz) // 2
    vol = blobs[z0:z0 + nz, :ny, :nx].astype(np.float64)
    vol = ndimage.gaussian_filter(vol, sigma=(1.0, 1.5, 1.5))
    photons = background + (max_photons - background) * vol
    rng = np.random.default_rng(seed + 1)
    noisy = _poisson_gaussian(photons, gain, offset, read_sigma, rng)
    clean = _expected(photons, gain, offset)
    return noisy, clean, _noise_params(gain, offset, read_sigma, max_photons, background)


def noisy_timeseries(n_frames: int = 8, *, max_photons: float = 40.0, background: float = 3.0,
                     gain: float = 1.5, offset: float = 100.0, read_sigma: float = 2.0,
                     seed: int = 0):
    """A static scene (``skimage.data.coins``, 303x384) filmed ``n_frames`` times in low
    light: every frame has independent Poisson-Gaussian noise, uint16 (T, Y, X).

    Pairs of frames are ready-made Noise2Noise training data; the mean of the frames
    converges to ``clean``.

    Returns ``(noisy, clean, params)``: ``noisy`` (T, Y, X), ``clean`` (Y, X) the expected
    value of every frame (uint16).
    """
    from skimage import data

    scene = data.coins().astype(np.float64) / 255.0
    photons = background + (max_photons - background) * scene
    rng = np.random.default_rng(seed)
    noisy = np.stack([_poisson_gaussian(photons, gain, offset, read_sigma, rng)
                      for _ in range(int(n_frames))])
    clean = _expected(photons, gain, offset)
    return noisy, clean, _noise_params(gain, offset, read_sigma, max_photons, background)


# -- napari sample-data contributions ---------------------------------------------

def cell_phantom(shape_fine=(96, 160, 160), seed: int = 0) -> np.ndarray:
    """A cell-like fluorescence scene on an isotropic grid (0.1 um voxels), in [0, 1]:
    textured nuclei, filaments (smooth random curves), a faint cytoplasm, blurred by a
    PSF 3x longer in Z. Sampled every few planes it is a Z stack whose neighbouring
    slices look alike while the sample changes slowly (benchmarks/n2n_volume.py)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    Z, Y, X = shape_fine
    vol = np.zeros(shape_fine, np.float32)
    zz, yy, xx = np.meshgrid(np.arange(Z), np.arange(Y), np.arange(X), indexing="ij",
                             sparse=True)
    texture = ndi.gaussian_filter(rng.standard_normal(shape_fine).astype(np.float32), 3)
    texture /= texture.std()
    for _ in range(10):  # nuclei
        c = rng.uniform([8, 16, 16], [Z - 8, Y - 16, X - 16])
        r = rng.uniform(8, 18, 3)
        inside = ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + \
                 ((xx - c[2]) / r[2]) ** 2 <= 1
        vol = np.where(inside, np.maximum(vol, rng.uniform(0.35, 0.6) * (1 + 0.3 * texture)),
                       vol)
    for _ in range(40):  # filaments: smooth random curves
        p = rng.uniform([0, 0, 0], [Z, Y, X])
        v = rng.standard_normal(3)
        v /= np.linalg.norm(v)
        level = rng.uniform(0.5, 1.0)
        for _ in range(400):
            v = v + 0.15 * rng.standard_normal(3)
            v /= np.linalg.norm(v)
            p = p + 0.5 * v
            i = np.round(p).astype(int)
            if np.any(i < 0) or np.any(i >= shape_fine):
                break
            vol[tuple(i)] = max(vol[tuple(i)], level * 4)
    cyto = ndi.gaussian_filter(rng.random(shape_fine).astype(np.float32), 8)
    vol += 0.15 * (cyto - cyto.min()) / (np.ptp(cyto) + 1e-6)
    vol = ndi.gaussian_filter(vol, (2.5, 0.8, 0.8))  # PSF: 3x longer in Z
    return (vol / vol.max()).astype(np.float32)


def _meta(**kw) -> dict:
    return {"napari_denoise_sample": kw}


def make_sample_2d():
    """napari sample: the camera image with Gaussian noise (sigma 25) and the clean image."""
    noisy, clean, sigma = noisy_camera()
    info = dict(noise_model="gaussian", sigma=sigma, units="0-255")
    return [
        (clean, {"name": "camera (clean)", "visible": False, "contrast_limits": (0, 255),
                 "metadata": _meta(role="clean", **info)}, "image"),
        (noisy, {"name": f"camera (noisy, sigma {sigma:g})", "contrast_limits": (0, 255),
                 "metadata": _meta(role="noisy", **info)}, "image"),
    ]


def make_sample_3d():
    """napari sample: a 16x128x128 uint16 stack of blobs with Poisson-Gaussian noise."""
    noisy, clean, params = noisy_stack()
    lims = (float(params["offset"]), float(clean.max()))
    return [
        (clean, {"name": "blobs stack (clean)", "visible": False, "contrast_limits": lims,
                 "metadata": _meta(role="clean", **params)}, "image"),
        (noisy, {"name": "blobs stack (noisy)", "contrast_limits": lims,
                 "metadata": _meta(role="noisy", **params)}, "image"),
    ]


def make_sample_timeseries():
    """napari sample: 8 frames of a static scene with independent Poisson-Gaussian noise."""
    noisy, clean, params = noisy_timeseries()
    lims = (float(params["offset"]), float(clean.max()))
    return [
        (clean, {"name": "coins (clean)", "visible": False, "contrast_limits": lims,
                 "metadata": _meta(role="clean", **params)}, "image"),
        (noisy, {"name": "coins time series (noisy)", "contrast_limits": lims,
                 "metadata": _meta(role="noisy", **params)}, "image"),
    ]
