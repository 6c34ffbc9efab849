"""M3ambaHead and CosineConsistencyLoss: logits, loss terms, ignore 255."""
import pytest
import torch
import torch.nn.functional as F
from m3amba_helpers import build, data_samples


def head(**overrides):
    torch.manual_seed(0)
    cfg = dict(type='M3ambaHead', in_channels=6, num_classes=3,
               modality_names=('hsi', 'lidar'))
    cfg.update(overrides)
    return build(cfg)


def feats(batch=2, size=(4, 5)):
    return tuple(torch.randn(batch, 6, *size, requires_grad=True)
                 for _ in range(3))


# ----------------------------------------------------------- consistency loss
def consistency(**kwargs):
    return build(dict(type='CosineConsistencyLoss', **kwargs))


def test_consistency_values():
    a = torch.randn(2, 4, 3, 3)
    loss = consistency(loss_weight=0.5)
    assert loss(a, 3 * a).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(a, -a).item() == pytest.approx(1.0)  # 0.5 * 2
    e0 = torch.zeros(1, 2, 1, 2)
    e0[:, 0] = 1
    e1 = torch.zeros(1, 2, 1, 2)
    e1[:, 1] = 1
    assert consistency()(e0, e1).item() == pytest.approx(1.0)
    # Per-pixel mean: one matching and one opposite pixel -> (0 + 2) / 2.
    mixed = e0.clone()
    mixed[..., 1] = -e0[..., 1]
    assert consistency()(e0, mixed).item() == pytest.approx(1.0)
    mask = torch.tensor([[[True, False]]])
    assert consistency()(e0, mixed, mask).item() == pytest.approx(0.0)


def test_consistency_gradient_and_detach():
    a = torch.randn(1, 3, 2, 2, requires_grad=True)
    b = torch.randn(1, 3, 2, 2, requires_grad=True)
    consistency()(a, b).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    a.grad, b.grad = None, None
    consistency(detach_target=True)(a, b).backward()
    assert a.grad.abs().sum() > 0 and b.grad is None


def test_consistency_bad_arguments():
    with pytest.raises(ValueError, match='same shape'):
        consistency()(torch.zeros(1, 2, 2, 2), torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match='loss_'):
        consistency(loss_name='cos')


# ----------------------------------------------------------------------- head
def test_forward_is_the_fused_head():
    m3head = head()
    inputs = feats()
    logits = m3head(inputs)
    assert logits.shape == (2, 3, 4, 5)
    all_logits = m3head.forward_all(inputs)
    assert set(all_logits) == {'hsi', 'lidar', 'fused'}
    torch.testing.assert_close(all_logits['fused'], logits)
    # LayerNorm over channels, then the 1x1 conv_seg.
    normed = F.layer_norm(inputs[2].permute(0, 2, 3, 1), (6, ),
                          m3head.fused_norm.weight, m3head.fused_norm.bias)
    expected = m3head.conv_seg(normed.permute(0, 3, 1, 2))
    torch.testing.assert_close(logits, expected)
    assert all_logits['hsi'].shape == (2, 3, 4, 5)
    assert not torch.allclose(all_logits['hsi'], logits)


def _labels(batch=2, size=(4, 5)):
    labels = torch.full((batch, *size), 255)
    labels[0, 1, 2] = 2
    labels[1, 3, 0] = 0
    labels[1, 0, 4] = 1
    return labels


def test_loss_terms_weights_and_ignore_index():
    inputs = feats()
    labels = _labels()
    samples = data_samples(labels)
    lambda1, lambda2 = 2.0, 0.25
    m3head = head(
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=lambda1,
                         avg_non_ignore=True),
        loss_consistency=dict(type='CosineConsistencyLoss',
                              loss_weight=lambda2))
    losses = m3head.loss(inputs, samples, None)
    assert set(losses) == {'loss_ce', 'acc_seg', 'loss_cos_hsi',
                           'loss_cos_lidar'}
    logits = m3head(inputs)
    # Mean over the three labeled pixels only; 255 is ignored.
    expected_ce = F.cross_entropy(logits, labels, ignore_index=255)
    torch.testing.assert_close(losses['loss_ce'], lambda1 * expected_ce)
    cos = 1 - F.cosine_similarity(inputs[0], inputs[2], dim=1).mean()
    torch.testing.assert_close(losses['loss_cos_hsi'], lambda2 * cos)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    assert all(f.grad is not None for f in inputs)
    assert m3head.modality_classifiers['hsi'].conv.weight.grad is None


def test_modality_heads_cross_entropy_when_weighted():
    inputs = feats()
    labels = _labels()
    m3head = head(modality_loss_weight=0.5, loss_consistency=None)
    losses = m3head.loss(inputs, data_samples(labels), None)
    assert set(losses) == {'loss_ce', 'acc_seg', 'loss_ce_hsi',
                           'acc_seg_hsi', 'loss_ce_lidar', 'acc_seg_lidar'}
    lidar_logits = m3head.forward_all(inputs)['lidar']
    expected = 0.5 * F.cross_entropy(lidar_logits, labels, ignore_index=255)
    torch.testing.assert_close(losses['loss_ce_lidar'], expected)


def test_head_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r'expects 3 feature maps'):
        head()(feats()[:2])
    with pytest.raises(TypeError, match='one int in_channels'):
        head(in_channels=[6, 6])
    with pytest.raises(TypeError, match="'in_index'"):
        head(in_index=0)
    with pytest.raises(ValueError, match='each once'):
        head(modality_names=('hsi', 'hsi'))
    with pytest.raises(ValueError, match='modality_loss_weight'):
        head(modality_loss_weight=-1)
