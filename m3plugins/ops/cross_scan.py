"""Cross-scan and cross-merge: VMamba's four scan orders of a 2-D map.

VMamba (Liu et al., "VMamba: Visual State Space Model", arXiv 2401.10166)
unfolds a feature map into four 1-D sequences, scans each, and sums the four
results back onto the grid. The geometry lives here, apart from the
recurrence (:func:`m3plugins.ops.selective_scan`).

Directions, in this order (index ``k`` of the second output dimension):

0. row-major: ``(h, w) -> h * W + w``;
1. column-major: ``(h, w) -> w * H + h``;
2. row-major reversed;
3. column-major reversed.

Both functions are compositions of views, transposes, flips and copies into
a new tensor, so autograd differentiates them exactly and they work for any
``H x W``.
"""
from torch import Tensor

#: Number of scan directions produced by :func:`cross_scan`.
NUM_DIRECTIONS = 4


def cross_scan(x: Tensor) -> Tensor:
    """Unfolds a map into the four scan orders.

    Args:
        x (Tensor): ``(B, C, H, W)``.

    Returns:
        Tensor: ``(B, 4, C, H * W)``: row-major, column-major, row-major
        reversed, column-major reversed.
    """
    if x.dim() != 4:
        raise ValueError(
            f'cross_scan expects (B, C, H, W), got {tuple(x.shape)}')
    batch, channels, height, width = x.shape
    # Written straight into the output: one copy per direction (plus the
    # flip's), instead of materialising the transpose, a stack and a cat.
    out = x.new_empty(batch, NUM_DIRECTIONS, channels, height * width)
    out[:, 0].view(batch, channels, height, width).copy_(x)
    out[:, 1].view(batch, channels, width, height).copy_(x.transpose(2, 3))
    out[:, 2:].copy_(out[:, :2].flip(-1))
    return out


def cross_merge(y: Tensor, H: int, W: int) -> Tensor:
    """Maps the four scanned sequences back to row-major order and sums them.

    The adjoint of :func:`cross_scan`: ``cross_merge(cross_scan(x))`` is
    ``4 * x`` flattened.

    Args:
        y (Tensor): ``(B, 4, C, H * W)`` in the direction order of
            :func:`cross_scan`.
        H (int): Height of the map.
        W (int): Width of the map.

    Returns:
        Tensor: ``(B, C, H * W)`` in row-major order.
    """
    if y.dim() != 4 or y.shape[1] != NUM_DIRECTIONS or y.shape[-1] != H * W:
        raise ValueError(f'cross_merge expects (B, {NUM_DIRECTIONS}, C, '
                         f'{H}*{W}), got {tuple(y.shape)}')
    batch, _, channels, length = y.shape
    forward = y[:, :2] + y[:, 2:].flip(-1)  # undo the reversal
    row_major = forward[:, 0]
    col_major = forward[:, 1].reshape(batch, channels, W, H).transpose(2, 3)
    return row_major + col_major.reshape(batch, channels, length)
