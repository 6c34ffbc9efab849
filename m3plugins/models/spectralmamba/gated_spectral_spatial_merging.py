"""Gated spectral-spatial merging (GSSM) of SpectralMamba.

Yao, Hong, Li, Chanussot, "SpectralMamba: Efficient Mamba for Hyperspectral
Image Classification", arXiv 2404.08489.
"""
import math

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from m3plugins.utils.grad_mode import needs_grad


@MODELS.register_module()
class GatedSpectralSpatialMerging(BaseModule):
    """Input-dependent mask from efficient convolutions gating the spectrum.

    The paper computes a mask with "efficient convolutions" over the
    spatial-spectral input that encodes spatial regularity and spectral
    peculiarity, and multiplies the spectrum by it (the "merged spectrum").
    No official code exists; our reading:

    ``mask = sigmoid(pw_up(GELU(pw_down(dw_kxk(x)))))`` and
    ``merged = x * mask``, where

    * ``dw_kxk`` is a depthwise ``kernel_size x kernel_size`` convolution per
      band (spatial regularity), zero-padded by ``kernel_size // 2`` to keep
      the size (``same_padding=True``) or unpadded (the output shrinks by
      ``kernel_size - 1``; the caller pads the input). ``kernel_size=1``
      (pixelwise variant) only rescales bands.
    * ``pw_down`` / ``pw_up`` are pointwise (1x1) convolutions across bands
      through a bottleneck of ``max(min_hidden, ceil(C / reduction))``
      channels (spectral peculiarity at a fraction of a ``C x C`` cost).

    The mask has one value per band and pixel, in (0, 1); the band count is
    kept.

    Args:
        in_channels (int): Bands C of the spectrum. Default: 144
            (Houston2013).
        kernel_size (int): Odd spatial kernel of the depthwise convolution:
            3 for the patchwise variant, 1 for the pixelwise one. Default: 3.
        reduction (int): Band reduction of the pointwise bottleneck.
            Default: 8.
        min_hidden (int): Smallest bottleneck width. Default: 8.
        same_padding (bool): Zero-pad the depthwise convolution so the
            output keeps the input size. Default: True.
        init_cfg (dict, optional): mmengine initialisation config.

    Shapes:
        - input: (B, C, H, W)
        - output: (B, C, H, W), the merged spectrum; (B, C, H - k + 1,
          W - k + 1) with ``same_padding=False``.
    """

    def __init__(self,
                 in_channels: int = 144,
                 kernel_size: int = 3,
                 reduction: int = 8,
                 min_hidden: int = 8,
                 same_padding: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if in_channels < 1:
            raise ValueError(f'in_channels must be >= 1, got {in_channels}')
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                'kernel_size must be a positive odd number, '
                f'got {kernel_size}')
        if reduction < 1 or min_hidden < 1:
            raise ValueError('reduction and min_hidden must be >= 1, got '
                             f'{reduction} and {min_hidden}')
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.same_padding = same_padding
        hidden = max(min_hidden, math.ceil(in_channels / reduction))
        self.spatial = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            padding=kernel_size // 2 if same_padding else 0,
            groups=in_channels)
        self.squeeze = nn.Conv2d(in_channels, hidden, 1)
        self.act = nn.GELU()
        self.expand = nn.Conv2d(hidden, in_channels, 1)

    def gate_logits(self, x: Tensor) -> Tensor:
        """The gate before its sigmoid, (B, C, H', W')."""
        return self.expand(self.act(self.squeeze(self.spatial(x))))

    def mask(self, x: Tensor) -> Tensor:
        """The gate, (B, C, H', W') in (0, 1)."""
        return torch.sigmoid(self.gate_logits(x))

    def forward(self, x: Tensor) -> Tensor:
        """Gate the spectrum: (B, C, H, W) -> (B, C, H', W')."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'Expected (B, {self.in_channels}, H, W), got '
                f'{tuple(x.shape)}')
        if not self.same_padding and self.kernel_size > 1:
            trim = self.kernel_size // 2
            centre = x[..., trim:-trim, trim:-trim]
        else:
            centre = x
        if needs_grad(x, module=self):
            return centre * self.mask(x)
        # Inference: gate in place in the expand output; no two more
        # (B, C, H, W) temporaries (a whole scene's spectrum is large).
        return self.gate_logits(x).sigmoid_().mul_(centre)
