"""Network architectures, one short file each, looked up through :mod:`..registry`.

Every architecture is an ``nn.Module`` with these attributes, which the inference
engine reads:

``dims``            2 or 3 (spatial dimensions it convolves over)
``in_channels``     image channels it denoises jointly (1 = gray, 3 = colour)
``takes_noise_map`` whether ``forward(x, sigma_map)`` expects a noise-level map
``rf_radius``       receptive-field radius in pixels (sets the tile overlap)
``size_multiple``   spatial sizes must be a multiple of this (inputs are padded)

Each file registers its class with ``@register_arch(name, description, builtin=True)``;
importing this package registers them all.
"""

from .attention_unet import AttentionUNet
from .cbdnet import CBDNet
from .conv_autoencoder import ConvAutoencoder
from .deep_unet import DeepUNet
from .dncnn import DnCNN
from .drunet import DRUNet
from .mapped import NoiseMapped
from .ffdnet import FFDNet
from .n2n_sequential import N2NSequential
from .nafnet import NAFNet
from .pridnet import PRIDNet
from .ridnet import RIDNet
from .unet import UNet

__all__ = ["AttentionUNet", "CBDNet", "ConvAutoencoder", "DeepUNet", "DnCNN", "DRUNet",
           "FFDNet", "N2NSequential", "NAFNet", "NoiseMapped", "PRIDNet", "RIDNet", "UNet"]
