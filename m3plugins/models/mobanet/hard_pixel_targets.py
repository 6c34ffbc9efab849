"""Hard-pixel targets for MoBaNet's auxiliary heads.

MoBaNet (Li et al., arXiv 2603.17705) trains two auxiliary heads, on the
stage-1 optical and DSM maps, only on the pixels the fused (main) head gets
wrong, so each modality is pushed to explain what the fusion still misses.
"""
from torch import Tensor


def hard_pixel_targets(logits: Tensor, labels: Tensor,
                       ignore_index: int = 255) -> Tensor:
    """Keep the labels of misclassified pixels; ignore all others.

    Args:
        logits: Main-head scores (B, K, H, W) at the label resolution.
        labels: Ground truth (B, H, W) or (B, 1, H, W), integer.
        ignore_index: Label of pixels that are not scored.

    Returns:
        Tensor: Labels of the same shape as ``labels``, equal to ``labels``
        where ``argmax(logits) != labels`` and to ``ignore_index`` elsewhere
        (already-ignored pixels stay ignored).

    Raises:
        ValueError: If the spatial sizes of logits and labels differ.
    """
    squeeze = labels.dim() == 4
    flat = labels[:, 0] if squeeze else labels
    if logits.shape[0] != flat.shape[0] or \
            logits.shape[-2:] != flat.shape[-2:]:
        raise ValueError(
            f'Logits {tuple(logits.shape)} and labels {tuple(labels.shape)} '
            'must share batch and spatial size.')
    wrong = logits.argmax(dim=1) != flat
    hard = flat.masked_fill(~wrong, ignore_index)
    return hard.unsqueeze(1) if squeeze else hard
