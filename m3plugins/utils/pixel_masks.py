"""Boolean per-pixel masks: which outputs, and which inputs they read."""
import torch.nn.functional as F
from torch import Tensor


def dilate_pixel_mask(mask: Tensor, radius: int, pad: int = 0) -> Tensor:
    """Pixels within a square of ``radius`` around a masked pixel.

    Args:
        mask: (B, H, W) bool.
        radius: Half side of the square (0: no dilation).
        pad: Grow the grid by this many unmasked pixels per side first
            (e.g. to go from an output grid to a larger input grid).

    Returns:
        Tensor: (B, H + 2 pad, W + 2 pad) bool.
    """
    grown = mask[:, None].float()
    if pad:
        grown = F.pad(grown, (pad, ) * 4)
    if radius:
        grown = F.max_pool2d(grown, 2 * radius + 1, stride=1, padding=radius)
    return grown[:, 0] > 0
