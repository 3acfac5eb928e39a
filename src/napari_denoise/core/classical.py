"""Classical (non-learned) denoisers behind one small interface.

Every denoiser takes a float32 single-channel image normalised so that the
data range is about [0, 1] (values slightly outside are fine and are not
clipped) and the Gaussian noise std ``sigma`` in the same units, and returns
a float32 array of the same shape.  All parameters are derived from ``sigma``.

Pure numpy / scikit-image / bm3d; no GUI or torch imports here.
"""

from __future__ import annotations

import itertools

import numpy as np

from .classical_base import ClassicalDenoiser

__all__ = [
    "CLASSICAL",
    "BM3DDenoiser",
    "ClassicalDenoiser",
    "NLMDenoiser",
    "TVDenoiser",
    "WaveletDenoiser",
    "get_classical",
]


class BM3DDenoiser(ClassicalDenoiser):
    """BM3D (Dabov et al. 2007) via the ``bm3d`` package, 2D only."""

    name = "bm3d"
    description = "BM3D: best quality of the classical methods on natural images; slow (seconds per megapixel), 2D only"
    # 8x8 blocks matched in a 39x39 search window, plus the block itself
    rf_radius = 32
    dims = (2,)
    min_side = 16

    def _denoise(self, x: np.ndarray, sigma: float) -> np.ndarray:
        import bm3d

        return bm3d.bm3d(x, sigma_psd=sigma)


class NLMDenoiser(ClassicalDenoiser):
    """Non-local means (scikit-image, fast mode), 2D and 3D."""

    name = "nlm"
    description = "Non-local means: good on repetitive structure and flat areas; moderate speed, 2D and 3D"
    #: filter strength h = H_FACTOR * sigma (tuned on skimage camera/astronaut/coins/chelsea)
    H_FACTOR = 0.7
    PATCH_SIZE = 5
    PATCH_DISTANCE = 6
    # support is patch_distance + patch_size // 2 = 8 px; double it for a seamless overlap
    rf_radius = 16
    dims = (2, 3)

    def _denoise(self, x: np.ndarray, sigma: float) -> np.ndarray:
        from skimage.restoration import denoise_nl_means

        return denoise_nl_means(
            x,
            patch_size=self.PATCH_SIZE,
            patch_distance=self.PATCH_DISTANCE,
            h=self.H_FACTOR * sigma,
            sigma=sigma,
            fast_mode=True,
            preserve_range=True,
            channel_axis=None,
        )


class TVDenoiser(ClassicalDenoiser):
    """Total-variation (Chambolle) denoising, 2D and 3D."""

    name = "tv"
    description = "Total variation: fast, keeps sharp edges but flattens texture (cartoon look), 2D and 3D"
    rf_radius = 16
    dims = (2, 3)

    @staticmethod
    def weight(sigma: float) -> float:
        """TV weight for noise ``sigma`` (data in [0, 1]): 0.6*sigma + 2*sigma**2.

        The best linear factor grows with the noise (about 0.7 at sigma 15/255,
        0.8 at 25/255, 1.0 at 50/255); this curve follows it.
        """
        return sigma * (0.6 + 2.0 * sigma)

    def _denoise(self, x: np.ndarray, sigma: float) -> np.ndarray:
        from skimage.restoration import denoise_tv_chambolle

        return denoise_tv_chambolle(x, weight=self.weight(sigma), channel_axis=None)


class WaveletDenoiser(ClassicalDenoiser):
    """BayesShrink soft wavelet thresholding with light cycle spinning, 2D and 3D."""

    name = "wavelet"
    description = "Wavelet shrinkage (BayesShrink): very fast, mild smoothing, can leave blocky artefacts, 2D and 3D"
    WAVELET = "db2"
    MAX_LEVELS = 3
    #: shifts 0..CYCLE_SHIFTS along every axis are averaged (translation invariance)
    CYCLE_SHIFTS = 1
    # db2 (length 4) at 3 levels: support (4 - 1) * (2**3 - 1) + 1 = 22 px
    rf_radius = 24
    dims = (2, 3)

    def _levels(self, shape: tuple[int, ...]) -> int:
        import pywt

        return int(np.clip(pywt.dwt_max_level(min(shape), pywt.Wavelet(self.WAVELET).dec_len), 1, self.MAX_LEVELS))

    def _denoise(self, x: np.ndarray, sigma: float) -> np.ndarray:
        from skimage.restoration import denoise_wavelet

        levels = self._levels(x.shape)

        def once(z: np.ndarray) -> np.ndarray:
            # float input: skimage neither rescales nor clips, so values outside [0, 1] survive
            return denoise_wavelet(
                z,
                sigma=sigma,
                wavelet=self.WAVELET,
                mode="soft",
                wavelet_levels=levels,
                method="BayesShrink",
                rescale_sigma=True,
                channel_axis=None,
            )

        axes = tuple(range(x.ndim))
        acc = np.zeros(x.shape, dtype=np.float64)
        shifts = list(itertools.product(range(self.CYCLE_SHIFTS + 1), repeat=x.ndim))
        for shift in shifts:
            acc += np.roll(once(np.roll(x, shift, axis=axes)), [-s for s in shift], axis=axes)
        return acc / len(shifts)


CLASSICAL: dict[str, ClassicalDenoiser] = {
    d.name: d for d in (BM3DDenoiser(), NLMDenoiser(), TVDenoiser(), WaveletDenoiser())
}


def _add_nn3d() -> None:
    from .nn3d import NN3DDenoiser  # a network + BM3D's Wiener stage, run like the others

    CLASSICAL["nn3d"] = NN3DDenoiser()


_add_nn3d()


def get_classical(name: str) -> ClassicalDenoiser:
    """The registered classical denoiser called ``name`` (case-insensitive)."""
    key = str(name).strip().lower()
    if key not in CLASSICAL:
        raise ValueError(f"unknown classical denoiser {name!r}; known: {', '.join(sorted(CLASSICAL))}")
    return CLASSICAL[key]
