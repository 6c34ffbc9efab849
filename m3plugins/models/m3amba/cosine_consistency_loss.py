"""Per-pixel cosine consistency between two feature maps (M3amba).

M3amba (Cao et al., arXiv 2503.06446) adds to the cross-entropy a term that
pulls each modality's feature map towards the fused one: ``1 - cos`` between
the two feature vectors at every pixel.
"""

import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class CosineConsistencyLoss(nn.Module):
    """``loss_weight * mean over pixels of (1 - cos(feat, target))``.

    The cosine is taken along the channel axis, independently at every pixel
    of every sample, so the loss ignores the feature norms and only aligns
    directions. It is unsupervised: every pixel counts, labeled or not (the
    paper does not say; ignoring unlabeled pixels would drop almost all of an
    HSI crop, where labels are sparse). An optional ``mask`` restricts it.

    Args:
        loss_weight: Multiplier (M3amba's lambda2). Defaults to 1.0.
        detach_target: Stop the gradient through ``target`` so only ``feat``
            moves towards it. The paper leaves this open; by default both
            streams receive the gradient. Defaults to False.
        eps: Numerical floor of the cosine's denominator. Defaults to 1e-8.
        loss_name: Key prefix of this loss in the loss dict; must start with
            ``loss_`` for mmengine to add it to the total. Defaults to
            ``'loss_cos'``.

    Shapes:
        feat, target: (B, C, H, W). mask: (B, H, W) bool/0-1, optional.
        Returns a scalar.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 detach_target: bool = False,
                 eps: float = 1e-8,
                 loss_name: str = 'loss_cos') -> None:
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(
                f'loss_name must start with "loss_" so that mmengine sums it '
                f'into the total loss, got {loss_name!r}.')
        self.loss_weight = float(loss_weight)
        self.detach_target = detach_target
        self.eps = eps
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict."""
        return self._loss_name

    def forward(self,
                feat: Tensor,
                target: Tensor,
                mask: Tensor | None = None) -> Tensor:
        """Compute the loss.

        Args:
            feat: Feature map (B, C, H, W).
            target: Feature map of the same shape to align with.
            mask: Optional (B, H, W) selection of the pixels that count.

        Returns:
            Tensor: Scalar loss.
        """
        if feat.shape != target.shape:
            raise ValueError(
                f'feat and target must have the same shape, got '
                f'{tuple(feat.shape)} and {tuple(target.shape)}.')
        if self.detach_target:
            target = target.detach()
        distance = 1.0 - F.cosine_similarity(feat, target, dim=1,
                                             eps=self.eps)  # (B, H, W)
        if mask is not None:
            mask = mask.to(distance.dtype)
            distance = (distance * mask).sum() / mask.sum().clamp(min=1.0)
        else:
            distance = distance.mean()
        return self.loss_weight * distance
