"""Make mmseg's class-weighted cross entropy accept the ignore index.

mmseg 1.2.2's ``mmseg.models.losses.cross_entropy_loss.cross_entropy``
computes the mean's denominator for class weights as::

    label_weights = torch.stack([class_weight[cls] for cls in label])
    if avg_non_ignore:
        label_weights[label == ignore_index] = 0

The weight lookup ``class_weight[cls]`` runs over *every* label, including
the ignore index, before the ignored pixels are masked. Any pixel equal to
255 (the ignore index of every segmentation data set here: unlabeled
hyperspectral pixels, ISPRS boundary pixels) therefore raises
``IndexError: index 255 is out of bounds for dimension 0 with size K``, so
``CrossEntropyLoss(class_weight=...)`` cannot train on sparse labels at all
(upstream: open-mmlab/mmsegmentation issues 3412, 3492, 3734).

:func:`install_class_weighted_cross_entropy_fix` probes the host function
with a four-pixel call and, only when the probe shows the bug, replaces the
function with :func:`class_weighted_cross_entropy`, which looks the class
weights up for the non-ignored pixels only. With class weights, the mean is
PyTorch's weighted mean ``sum_i w[y_i] l_i / sum_i w[y_i]`` over the
non-ignored pixels, whatever ``avg_non_ignore`` says: an ignored pixel has no
class and therefore no weight to add to the denominator. Without class
weights the result is mmseg's unchanged.
"""
import torch
import torch.nn.functional as F

__all__ = [
    'class_weighted_cross_entropy', 'host_class_weight_bug_present',
    'install_class_weighted_cross_entropy_fix'
]

_PROBE_IGNORE_INDEX = 255

#: The host function that :func:`install_class_weighted_cross_entropy_fix`
#: replaced (None while nothing is replaced).
replaced_host_cross_entropy = None


def class_weighted_cross_entropy(pred: torch.Tensor,
                                 label: torch.Tensor,
                                 weight=None,
                                 class_weight=None,
                                 reduction: str = 'mean',
                                 avg_factor=None,
                                 ignore_index: int = -100,
                                 avg_non_ignore: bool = False
                                 ) -> torch.Tensor:
    """Mmseg's ``cross_entropy`` with the class weights of labels only.

    Same signature and results as
    ``mmseg.models.losses.cross_entropy_loss.cross_entropy`` wherever that
    works; with ``class_weight`` and pixels equal to ``ignore_index`` (where
    the host raises ``IndexError``) the mean is the class-weighted mean over
    the non-ignored pixels.

    Args:
        pred: Logits, ``(N, C, ...)``.
        label: Class indices, ``(N, ...)``; ``ignore_index`` marks pixels
            without a label.
        weight: Optional per-element weight of the loss.
        class_weight: Optional per-class weight (tensor of ``C``).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: Denominator of the mean; computed when None.
        ignore_index: Label value that contributes nothing.
        avg_non_ignore: Without class weights, average over the non-ignored
            pixels only (mmseg's option). With class weights ignored pixels
            never count.

    Returns:
        torch.Tensor: The loss (a scalar unless ``reduction='none'``).
    """
    from mmseg.models.losses.utils import weight_reduce_loss
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


def host_class_weight_bug_present(cross_entropy) -> bool:
    """Whether ``cross_entropy`` mishandles class weights on ignored pixels.

    Calls it on a 2 x 2 image with one ignored pixel and two classes
    weighted 1 and 3 (``avg_non_ignore=True``, where mmseg's intended result
    is unambiguous).

    Args:
        cross_entropy: A function with mmseg's ``cross_entropy`` signature.

    Returns:
        bool: True if it raises ``IndexError`` or its result differs from the
        class-weighted mean over the non-ignored pixels.
    """
    pred = torch.tensor([[[[2.0, -1.0], [0.5, 0.0]],
                          [[-1.0, 1.0], [0.0, 3.0]]]])
    label = torch.tensor([[[0, 1], [_PROBE_IGNORE_INDEX, 1]]])
    class_weight = torch.tensor([1.0, 3.0])
    try:
        result = cross_entropy(
            pred,
            label,
            class_weight=class_weight,
            ignore_index=_PROBE_IGNORE_INDEX,
            avg_non_ignore=True)
    except IndexError:
        return True
    expected = F.cross_entropy(
        pred, label, weight=class_weight, ignore_index=_PROBE_IGNORE_INDEX)
    return not torch.allclose(result, expected, rtol=1e-5, atol=1e-6)


def install_class_weighted_cross_entropy_fix() -> bool:
    """Replace mmseg's ``cross_entropy`` if (and only if) the probe fails.

    ``CrossEntropyLoss`` binds ``cross_entropy`` when it is built, so the
    module attribute is replaced before any loss is built (``import
    m3plugins`` precedes config building). Idempotent.

    Returns:
        bool: True if the host function is (now) replaced.
    """
    global replaced_host_cross_entropy
    from mmseg.models import losses
    from mmseg.models.losses import cross_entropy_loss
    current = cross_entropy_loss.cross_entropy
    if current is class_weighted_cross_entropy:
        return True
    if not host_class_weight_bug_present(current):
        return False
    replaced_host_cross_entropy = current
    cross_entropy_loss.cross_entropy = class_weighted_cross_entropy
    if getattr(losses, 'cross_entropy', None) is current:
        losses.cross_entropy = class_weighted_cross_entropy
    return True
