"""Cross entropy whose class weights work with the ignore index.

MMSeg 1.2.2's ``CrossEntropyLoss(class_weight=...)`` cannot train on sparse
labels: its ``cross_entropy`` looks up ``class_weight[label]`` for *every*
pixel before it masks the ignored ones, so any pixel equal to the ignore
index (255: unlabeled hyperspectral pixels, ISPRS boundary pixels) raises
``IndexError: index 255 is out of bounds`` (upstream:
open-mmlab/mmsegmentation issues 3412, 3492 and 3734).

:class:`ClassWeightedCrossEntropyLoss` is MMSeg's loss with a criterion that
takes the class weights of labelled pixels only. It is a registered loss
type that configs opt into; MMSeg's own function and loss are left as they
are.
"""
import torch
import torch.nn.functional as F
from mmseg.models.losses import CrossEntropyLoss
from mmseg.models.losses.utils import weight_reduce_loss
from mmseg.registry import MODELS

__all__ = ['ClassWeightedCrossEntropyLoss', 'class_weighted_cross_entropy']


def class_weighted_cross_entropy(pred: torch.Tensor,
                                 label: torch.Tensor,
                                 weight: torch.Tensor | None = None,
                                 class_weight: torch.Tensor | None = None,
                                 reduction: str = 'mean',
                                 avg_factor: float | None = None,
                                 ignore_index: int = -100,
                                 avg_non_ignore: bool = False
                                 ) -> torch.Tensor:
    """Pixel-wise cross entropy with the class weights of labels only.

    Same signature as ``mmseg.models.losses.cross_entropy_loss
    .cross_entropy`` and the same result wherever that one works. With
    ``class_weight``, the mean is PyTorch's weighted mean
    ``sum_i w[y_i] l_i / sum_i w[y_i]`` over the non-ignored pixels, whatever
    ``avg_non_ignore`` says: an ignored pixel has no class, so no weight to
    add to the denominator.

    Args:
        pred: Logits, ``(N, C, ...)``.
        label: Class indices, ``(N, ...)``; ``ignore_index`` marks pixels
            without a label.
        weight: Optional per-element weight of the loss, ``(N, ...)``.
        class_weight: Optional per-class weight, ``(C,)``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: Denominator of the mean; computed when None.
        ignore_index: Label value that contributes nothing.
        avg_non_ignore: Without class weights, average over the non-ignored
            pixels only (MMSeg's option).

    Returns:
        torch.Tensor: The loss, a scalar unless ``reduction='none'``.
    """
    loss = F.cross_entropy(
        pred,
        label,
        weight=class_weight,
        reduction='none',
        ignore_index=ignore_index)
    if avg_factor is None and reduction == 'mean':
        ignored = label == ignore_index
        if class_weight is None:
            avg_factor = label.numel()
            if avg_non_ignore:
                avg_factor -= ignored.sum().item()
        else:
            labelled = label[~ignored]
            avg_factor = class_weight.to(labelled.device)[labelled].sum()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(
        loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(CrossEntropyLoss):
    """MMSeg's ``CrossEntropyLoss`` whose class weights skip ignored pixels.

    Takes every argument of MMSeg's loss. Softmax cross entropy (the default)
    uses :func:`class_weighted_cross_entropy`; the sigmoid and mask variants
    are MMSeg's unchanged. Without ``class_weight`` the loss equals MMSeg's.

    Args:
        **kwargs: As ``mmseg.models.losses.CrossEntropyLoss``
            (``use_sigmoid``, ``use_mask``, ``reduction``, ``class_weight``,
            ``loss_weight``, ``loss_name``, ``avg_non_ignore``).

    Example:
        >>> loss_decode = dict(type='ClassWeightedCrossEntropyLoss',
        ...                    class_weight=[1.0, 1.0, 1.0, 1.0, 4.0, 4.0],
        ...                    avg_non_ignore=True)
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not (self.use_sigmoid or self.use_mask):
            self.cls_criterion = class_weighted_cross_entropy
