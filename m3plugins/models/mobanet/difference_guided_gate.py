"""The per-stage gate of MoBaNet's Difference-Guided Gated Fusion (DGFM).

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet).
"""
import torch
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class DifferenceGuidedGate(nn.Module):
    """Fuse an optical and a DSM map with a gate driven by their difference.

    For maps ``rgb`` and ``dsm`` of shape (B, C, H, W)::

        r, d  = conv1x1(rgb -> h), conv1x1(dsm -> h)
        gate  = sigmoid(conv1x1(GELU(GroupNorm(1, h)(conv1x1(
                    cat(r, d, |r - d|) -> h))) -> C))
        fused = gate * rgb + (1 - gate) * dsm

    The last convolution starts at zero, so the gate starts at 0.5 (an
    average of the two streams). Hidden width
    ``h = max(32, int(C * min(ratio, 0.125)))``, 128 for ViT-L.

    This is the released official gate (sauryeo/MoBaNet at 77b59b9), which
    sees ``[r, d, |r - d|]`` only. An ``r * d`` product, Sobel-edge features
    and an edge-weighted refinement branch existed in early commits of the
    official code and were removed before the release (82e2ab2); they are
    not part of MoBaNet and not reproduced here.

    Args:
        channels: Channels C of both inputs.
        ratio: Hidden-width ratio (official 0.25, capped at 0.125).
        min_hidden: Lower bound of the hidden width.
    """

    def __init__(self, channels: int = 1024, ratio: float = 0.25,
                 min_hidden: int = 32):
        super().__init__()
        hidden = max(min_hidden, int(channels * min(ratio, 0.125)))
        self.channels = channels
        self.hidden_dim = hidden
        self.reduce_rgb = nn.Conv2d(channels, hidden, 1, bias=False)
        self.reduce_dsm = nn.Conv2d(channels, hidden, 1, bias=False)
        self.gate = nn.Sequential(
            nn.Conv2d(3 * hidden, hidden, 1, bias=False),
            nn.GroupNorm(1, hidden),
            nn.GELU(),
            nn.Conv2d(hidden, channels, 1, bias=True),
            nn.Sigmoid())
        nn.init.zeros_(self.gate[3].weight)
        nn.init.zeros_(self.gate[3].bias)

    def gate_map(self, rgb: Tensor, dsm: Tensor) -> Tensor:
        """The gate (B, C, H, W) in (0, 1) for two (B, C, H, W) maps."""
        if rgb.shape != dsm.shape:
            raise ValueError('DGFM needs maps of one shape, got '
                             f'{tuple(rgb.shape)} and {tuple(dsm.shape)}.')
        r = self.reduce_rgb(rgb)
        d = self.reduce_dsm(dsm)
        return self.gate(torch.cat([r, d, (r - d).abs()], dim=1))

    def forward(self, rgb: Tensor, dsm: Tensor) -> Tensor:
        """Fused map (B, C, H, W) of optical and DSM maps (B, C, H, W)."""
        gate = self.gate_map(rgb, dsm)
        return gate * rgb + (1.0 - gate) * dsm
