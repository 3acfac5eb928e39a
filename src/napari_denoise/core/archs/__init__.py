"""Network architectures, one short file each, looked up through :mod:`..registry`.

Every architecture is an ``nn.Module`` with these attributes, which the inference
engine reads:

``dims``            2 or 3 (spatial dimensions it convolves over)
``in_channels``     image channels it denoises jointly (1 = gray, 3 = colour)
``takes_noise_map`` whether ``forward(x, sigma_map)`` expects a noise-level map
``rf_radius``       receptive-field radius in pixels (sets the tile overlap)
``size_multiple``   spatial sizes must be a multiple of this (inputs are padded)
"""

from .dncnn import DnCNN
from .drunet import DRUNet
from .ffdnet import FFDNet
from .unet import UNet

__all__ = ["DnCNN", "DRUNet", "FFDNet", "UNet"]
