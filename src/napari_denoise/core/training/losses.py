"""Training losses by name: ``get_loss(name)`` gives ``loss(output, target) -> scalar``.

Images are (N, C, H, W) (or (N, C, D, H, W)) tensors in [0, 1] (data range 1).

========================  ==================================================================
``l2``                    mean squared error
``l1``                    mean absolute error
``charbonnier``           mean of sqrt(d^2 + eps^2), eps = 1e-3 (a smooth L1)
``ssim``                  1 - SSIM (Gaussian window 11, sigma 1.5; pytorch-msssim)
``ms_ssim``               1 - MS-SSIM (pytorch-msssim; fewer scales on small patches, below)
``l1_ms_ssim``            0.84 (1 - MS-SSIM) + 0.16 L1 (Zhao et al. 2017, "Loss functions
                          for image restoration with neural networks"; the paper weights
                          the L1 term with the coarsest scale's Gaussian, whose mean over
                          the image is the plain L1 up to the borders)
``edge``                  Charbonnier of the Laplacian-filtered images (edge sharpness)
``mae_mse``               (L1 + L2) / 2
``psnr``                  the mean over a batch of how far each patch's PSNR is below
                          60 dB, 10 log10(1 + MSE / 1e-6): every patch counts by its dB,
                          so a batch mixing noise levels is not ruled by its noisiest
                          patches as it is under ``l2``
``composite``             Charbonnier + 0.1 edge + 0.3 (1 - SSIM)
``cbdnet_asymmetric``     the noise-map loss of CBDNet (Guo et al. 2019), called as
                          ``loss(estimated_map, true_map)``: see :func:`cbdnet_asymmetric`
========================  ==================================================================

MS-SSIM on small patches: pytorch-msssim's ``ms_ssim`` needs the smaller side to
exceed (11 - 1) * 2**4 = 160 pixels for its 5 scales. Here the number of scales is
the largest L <= 5 with ``side > 10 * 2 ** (L - 1)`` (64x64 patches: 3 scales,
65-160 px: 3 or 4), the weights are the first (finest) L of the standard five
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333) rescaled to sum to one, and the per-scale
SSIM/contrast terms come from pytorch-msssim. Sides of 10 pixels or fewer get
plain SSIM (L = 1). Sides above 160 use pytorch-msssim's ``ms_ssim`` unchanged.

This module imports torch only when a loss is built or called.
"""

from __future__ import annotations

from typing import Callable

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
CHARBONNIER_EPS = 1e-3
WIN_SIZE, WIN_SIGMA = 11, 1.5


def l2(output, target):
    """Mean squared error."""
    return (output - target).pow(2).mean()


def l1(output, target):
    """Mean absolute error."""
    return (output - target).abs().mean()


def charbonnier(output, target, eps: float = CHARBONNIER_EPS):
    """mean(sqrt((output - target)^2 + eps^2)), eps = 1e-3."""
    return ((output - target).pow(2) + eps * eps).sqrt().mean()


def ssim_value(output, target):
    """Mean SSIM (Gaussian window 11, sigma 1.5, data range 1) by pytorch-msssim."""
    from pytorch_msssim import ssim

    return ssim(output.float(), target.float(), data_range=1.0, size_average=True,
                win_size=WIN_SIZE, win_sigma=WIN_SIGMA)


def ms_ssim_scales(side: int) -> int:
    """Scales MS-SSIM uses for a smaller image side of ``side`` pixels (see the module doc)."""
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and side > (WIN_SIZE - 1) * 2 ** levels:
        levels += 1
    return levels


def ms_ssim_value(output, target):
    """Mean MS-SSIM (data range 1), with fewer scales on small images (module doc)."""
    import torch
    from torch.nn import functional as F

    output, target = output.float(), target.float()
    side = min(output.shape[-2:])
    levels = ms_ssim_scales(side)
    if levels == len(MS_SSIM_WEIGHTS):
        from pytorch_msssim import ms_ssim

        return ms_ssim(output, target, data_range=1.0, size_average=True,
                       win_size=WIN_SIZE, win_sigma=WIN_SIGMA)
    if levels == 1:
        return ssim_value(output, target)
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    weights = output.new_tensor(MS_SSIM_WEIGHTS[:levels])
    weights = weights / weights.sum()
    win = _fspecial_gauss_1d(WIN_SIZE, WIN_SIGMA)
    win = win.repeat([output.shape[1]] + [1] * (output.ndim - 1))
    pool = F.avg_pool2d if output.ndim == 4 else F.avg_pool3d
    x, y, terms = output, target, []
    for i in range(levels):
        s, cs = _ssim(x, y, data_range=1.0, win=win, size_average=False)
        if i < levels - 1:
            terms.append(torch.relu(cs))
            padding = [n % 2 for n in x.shape[2:]]
            x = pool(x, kernel_size=2, padding=padding)
            y = pool(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(s))
    return torch.prod(torch.stack(terms) ** weights.view(-1, 1, 1), dim=0).mean()


def ssim_loss(output, target):
    """1 - SSIM."""
    return 1 - ssim_value(output, target)


def ms_ssim_loss(output, target):
    """1 - MS-SSIM."""
    return 1 - ms_ssim_value(output, target)


def l1_ms_ssim(output, target, alpha: float = 0.84):
    """alpha (1 - MS-SSIM) + (1 - alpha) L1, alpha = 0.84 (Zhao et al. 2017)."""
    return alpha * ms_ssim_loss(output, target) + (1 - alpha) * l1(output, target)


def laplacian(x):
    """4-neighbour Laplacian of every channel (replicate borders); 3-D data by slices."""
    from torch.nn import functional as F

    shape = x.shape
    if x.ndim == 5:
        x = x.transpose(1, 2).reshape(-1, shape[1], *shape[-2:])
    c = x.shape[1]
    k = x.new_tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"),
                    k.view(1, 1, 3, 3).repeat(c, 1, 1, 1), groups=c)


def edge(output, target):
    """Charbonnier distance between the Laplacians of output and target."""
    return charbonnier(laplacian(output), laplacian(target))


#: floor of a patch's mean squared error in the ``psnr`` loss: a 60 dB cap, so that a
#: noise-free patch (which a network can copy exactly) does not take over the batch
PSNR_LOSS_FLOOR = 1e-6


def psnr_loss(output, target):
    """The mean over the batch of how far each patch's PSNR (data range 1) is below
    60 dB: ``10 log10(1 + mse / 1e-6)``, 0 for a perfect output (minus the mean PSNR
    up to a constant, which leaves the gradients unchanged).

    Under ``l2`` a batch that mixes noise levels is dominated by its noisiest patches
    (their squared errors are the largest); the mean PSNR weighs every patch by the
    dB it gains, which is what a benchmark over noise levels averages."""
    import torch

    mse = (output - target).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 + mse / PSNR_LOSS_FLOOR).mean()


def mae_mse(output, target):
    """(L1 + L2) / 2."""
    return 0.5 * (l1(output, target) + l2(output, target))


def composite(output, target):
    """Charbonnier + 0.1 edge + 0.3 (1 - SSIM)."""
    return (charbonnier(output, target) + 0.1 * edge(output, target)
            + 0.3 * ssim_loss(output, target))


def cbdnet_asymmetric(estimated_map, true_map, alpha: float = 0.3, tv_weight: float = 0.1):
    """CBDNet's noise-map loss (Guo et al. 2019): ``loss(estimated_map, true_map)``.

    Both are noise-level maps, (N, C, H, W), in the units of the image (a
    :class:`CBDNet`'s ``forward_with_map(x)[1]`` and the sigma map the noise was
    drawn with). Asymmetric term: mean of ``|alpha - 1[est < true]| * (est - true)^2``
    with alpha = 0.3, so under-estimating the noise costs 0.7 and over-estimating
    0.3 per squared unit (a denoiser given too low a level leaves noise behind).
    Plus ``tv_weight`` (0.1) times the total variation of the estimate (mean squared
    horizontal and vertical differences), which keeps it smooth. The paper's
    weights relative to the reconstruction loss, 0.5 and 0.05, are 0.5 times this.
    """
    d = estimated_map - true_map
    w = (alpha - (d < 0).to(d.dtype)).abs()
    asym = (w * d.pow(2)).mean()
    tv = estimated_map.new_zeros(())
    if estimated_map.shape[-1] > 1:
        tv = tv + (estimated_map[..., 1:] - estimated_map[..., :-1]).pow(2).mean()
    if estimated_map.shape[-2] > 1:
        tv = tv + (estimated_map[..., 1:, :] - estimated_map[..., :-1, :]).pow(2).mean()
    return asym + tv_weight * tv


_LOSSES: dict[str, Callable] = {
    "l2": l2,
    "l1": l1,
    "charbonnier": charbonnier,
    "ssim": ssim_loss,
    "ms_ssim": ms_ssim_loss,
    "l1_ms_ssim": l1_ms_ssim,
    "edge": edge,
    "mae_mse": mae_mse,
    "psnr": psnr_loss,
    "composite": composite,
    "cbdnet_asymmetric": cbdnet_asymmetric,
}


def list_losses() -> list[str]:
    """Names :func:`get_loss` accepts (the table in this module's docstring)."""
    return list(_LOSSES)


def get_loss(name: str) -> Callable:
    """The loss called ``name``: ``loss(output, target) -> scalar tensor``."""
    key = str(name).lower()
    if key not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(_LOSSES)}")
    return _LOSSES[key]
