"""ClassWeightedCrossEntropyLoss: class weights on labels with ignored pixels.

MMSeg's own ``CrossEntropyLoss`` and ``cross_entropy`` stay untouched; the
registered loss type is what configs opt into.
"""
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from m3plugins.models.losses import ClassWeightedCrossEntropyLoss

IGNORE = 255


def _manual_weighted_ce(pred, label, class_weight):
    """sum_i w[y_i] * -log softmax(pred_i)[y_i] / sum_i w[y_i], labelled i."""
    log_prob = pred.log_softmax(dim=1).permute(0, 2, 3, 1).reshape(
        -1, pred.shape[1])
    flat = label.reshape(-1)
    keep = flat != IGNORE
    picked = -log_prob[keep].gather(1, flat[keep, None])[:, 0]
    weights = class_weight[flat[keep]]
    return (weights * picked).sum() / weights.sum()


def _sparse_batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    pred = torch.randn(2, 3, 5, 6, generator=generator)
    label = torch.randint(0, 3, (2, 5, 6), generator=generator)
    label[torch.rand(2, 5, 6, generator=generator) < 0.4] = IGNORE
    return pred, label


def test_mmseg_loss_fails_on_ignored_pixels_and_is_left_alone():
    """The premise: MMSeg 1.2.2's weighted loss raises on label 255."""
    from mmseg.models.losses import CrossEntropyLoss, cross_entropy_loss
    assert cross_entropy_loss.cross_entropy.__module__ == \
        'mmseg.models.losses.cross_entropy_loss'
    pred, label = _sparse_batch()
    with pytest.raises(IndexError, match='255'):
        CrossEntropyLoss(class_weight=[1.0, 1.0, 1.0])(
            pred, label, ignore_index=IGNORE)


def test_registered_under_its_own_name():
    loss = MODELS.build(dict(type='ClassWeightedCrossEntropyLoss',
                             class_weight=[1.0, 2.0, 3.0]))
    assert isinstance(loss, ClassWeightedCrossEntropyLoss)
    assert loss.loss_name == 'loss_ce'
    assert MODELS.get('CrossEntropyLoss') is not ClassWeightedCrossEntropyLoss


@pytest.mark.parametrize('avg_non_ignore', [False, True])
def test_weighted_loss_equals_manual_weighted_mean(avg_non_ignore):
    class_weight = [0.5, 2.0, 1.25]
    loss = ClassWeightedCrossEntropyLoss(
        class_weight=class_weight, loss_weight=1.0,
        avg_non_ignore=avg_non_ignore)
    pred, label = _sparse_batch()
    assert (label == IGNORE).any() and (label != IGNORE).any()
    value = loss(pred, label, ignore_index=IGNORE)
    expected = _manual_weighted_ce(pred, label, torch.tensor(class_weight))
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        value, F.cross_entropy(pred, label, weight=torch.tensor(class_weight),
                               ignore_index=IGNORE), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('avg_non_ignore', [False, True])
def test_unweighted_loss_equals_mmseg(avg_non_ignore):
    """Without class weights the loss is MMSeg's, both means."""
    from mmseg.models.losses import CrossEntropyLoss
    pred, label = _sparse_batch(1)
    ours = ClassWeightedCrossEntropyLoss(avg_non_ignore=avg_non_ignore)(
        pred, label, ignore_index=IGNORE)
    theirs = CrossEntropyLoss(avg_non_ignore=avg_non_ignore)(
        pred, label, ignore_index=IGNORE)
    torch.testing.assert_close(ours, theirs)
    per_pixel = F.cross_entropy(pred, label, ignore_index=IGNORE,
                                reduction='none')
    count = (label != IGNORE).sum() if avg_non_ignore else label.numel()
    torch.testing.assert_close(ours, per_pixel.sum() / count)


def test_all_pixels_ignored_gives_zero_not_nan():
    pred = torch.randn(1, 3, 2, 2)
    label = torch.full((1, 2, 2), IGNORE)
    value = ClassWeightedCrossEntropyLoss(class_weight=[1.0, 2.0, 3.0])(
        pred, label, ignore_index=IGNORE)
    assert torch.isfinite(value) and value.item() == 0.0


def test_sigmoid_variant_is_mmsegs():
    from mmseg.models.losses.cross_entropy_loss import binary_cross_entropy
    loss = ClassWeightedCrossEntropyLoss(use_sigmoid=True)
    assert loss.cls_criterion is binary_cross_entropy
