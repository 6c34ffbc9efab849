"""mmseg's CrossEntropyLoss(class_weight=...) on labels with ignored pixels."""
import pytest
import torch
import torch.nn.functional as F

import m3plugins  # noqa: F401  (applies the compat patches)
from m3plugins.compat import cross_entropy_class_weight as fix

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


def test_host_bug_is_reproduced_by_the_probe():
    """The unpatched mmseg 1.2.2 function raises IndexError on label 255."""
    from mmseg.models.losses import cross_entropy_loss
    assert fix.install_class_weighted_cross_entropy_fix()
    assert cross_entropy_loss.cross_entropy is \
        fix.class_weighted_cross_entropy
    original = fix.replaced_host_cross_entropy
    assert original.__module__ == 'mmseg.models.losses.cross_entropy_loss'
    pred, label = _sparse_batch()
    with pytest.raises(IndexError, match='255'):
        original(pred, label, class_weight=torch.ones(3),
                 ignore_index=IGNORE)
    assert fix.host_class_weight_bug_present(original)
    assert not fix.host_class_weight_bug_present(
        fix.class_weighted_cross_entropy)


@pytest.mark.parametrize('avg_non_ignore', [False, True])
def test_weighted_loss_equals_manual_weighted_mean(avg_non_ignore):
    from mmseg.models.losses import CrossEntropyLoss
    class_weight = [0.5, 2.0, 1.25]
    loss = CrossEntropyLoss(class_weight=class_weight, loss_weight=1.0,
                            avg_non_ignore=avg_non_ignore)
    pred, label = _sparse_batch()
    assert (label == IGNORE).any() and (label != IGNORE).any()
    value = loss(pred, label, ignore_index=IGNORE)
    expected = _manual_weighted_ce(pred, label, torch.tensor(class_weight))
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        value, F.cross_entropy(pred, label, weight=torch.tensor(class_weight),
                               ignore_index=IGNORE), rtol=1e-5, atol=1e-6)


def test_unweighted_loss_is_unchanged():
    """Without class weights the replacement keeps mmseg's two means."""
    from mmseg.models.losses import CrossEntropyLoss
    pred, label = _sparse_batch(1)
    per_pixel = F.cross_entropy(pred, label, ignore_index=IGNORE,
                                reduction='none')
    all_pixels = CrossEntropyLoss()(pred, label, ignore_index=IGNORE)
    labelled = CrossEntropyLoss(avg_non_ignore=True)(pred, label,
                                                     ignore_index=IGNORE)
    torch.testing.assert_close(all_pixels, per_pixel.sum() / label.numel())
    torch.testing.assert_close(
        labelled, per_pixel.sum() / (label != IGNORE).sum())


def test_all_pixels_ignored_gives_zero_not_nan():
    from mmseg.models.losses import CrossEntropyLoss
    pred = torch.randn(1, 3, 2, 2)
    label = torch.full((1, 2, 2), IGNORE)
    value = CrossEntropyLoss(class_weight=[1.0, 2.0, 3.0])(
        pred, label, ignore_index=IGNORE)
    assert torch.isfinite(value) and value.item() == 0.0


def test_fix_not_installed_when_host_function_works(monkeypatch):
    """The probe decides: a correct host function is left in place."""
    from mmseg.models.losses import cross_entropy_loss

    def correct_host(pred, label, weight=None, class_weight=None,
                     reduction='mean', avg_factor=None, ignore_index=-100,
                     avg_non_ignore=False):
        return F.cross_entropy(pred, label, weight=class_weight,
                               ignore_index=ignore_index)

    monkeypatch.setattr(cross_entropy_loss, 'cross_entropy', correct_host)
    assert not fix.install_class_weighted_cross_entropy_fix()
    assert cross_entropy_loss.cross_entropy is correct_host
