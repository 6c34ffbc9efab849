"""MoBaNetAuxHead: the official AuxHead layers, and FCNHead as alternative.

Official: sauryeo/MoBaNet, Net.py, ``AuxHead`` (ConvBNReLU with ReLU6,
``nn.Dropout(0.1)``, bias-free 1x1 ``Conv``).
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmseg.models.decode_heads import FCNHead  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from repo_root import REPO_ROOT
from torch import nn

import m3plugins  # noqa: F401  (before mmseg.models: mmcv-lite compat)
from m3plugins.models.mobanet import MoBaNetAuxHead  # noqa: E402

REPO = REPO_ROOT


def build_head(**overrides):
    cfg = dict(type='MoBaNetAuxHead', in_channels=16, channels=16,
               in_index=1, num_classes=6, dropout_ratio=0.1,
               norm_cfg=dict(type='BN', requires_grad=True))
    cfg.update(overrides)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def test_official_layers_are_the_defaults():
    head = build_head()
    assert isinstance(head.conv.conv, nn.Conv2d)
    assert head.conv.conv.kernel_size == (3, 3)
    assert head.conv.conv.padding == (1, 1)
    assert head.conv.conv.bias is None  # followed by BN, as ConvBNReLU
    assert isinstance(head.conv.bn, nn.BatchNorm2d)
    assert isinstance(head.conv.activate, nn.ReLU6)
    assert type(head.dropout) is nn.Dropout and head.dropout.p == 0.1
    assert head.conv_seg.kernel_size == (1, 1)
    assert head.conv_seg.bias is None
    assert head.conv_seg.out_channels == 6


def test_relu6_clamps_the_features_at_6():
    head = build_head().eval()
    with torch.no_grad():
        head.conv.conv.weight.fill_(1.0)
    feats = [torch.zeros(2, 16, 5, 7), torch.full((2, 16, 5, 7), 10.0)]
    hidden = head.conv(feats[1])
    assert hidden.max().item() == 6.0 and hidden.min().item() >= 0.0
    logits = head(feats)
    assert logits.shape == (2, 6, 5, 7)
    # Bias-free classifier: its output is exactly its weight times 6 here.
    expected = 6.0 * head.conv_seg.weight.sum(dim=(1, 2, 3))
    torch.testing.assert_close(logits[0, :, 2, 3], expected)


def test_dropout_is_elementwise_not_channelwise():
    head = build_head(dropout_ratio=0.5).train()
    torch.manual_seed(1)
    dropped = head.dropout(torch.ones(1, 64, 8, 8))
    per_channel = (dropped == 0).flatten(2).float().mean(-1)
    # nn.Dropout zeroes single elements: channels are partly zero, never
    # wholly (Dropout2d would zero whole channels).
    assert ((per_channel > 0) & (per_channel < 1)).all()
    channelwise = build_head(dropout_ratio=0.5, dropout_type='Dropout2d')
    assert type(channelwise.dropout) is nn.Dropout2d
    assert build_head(dropout_ratio=0.0).dropout is None


def test_options_and_bad_arguments():
    biased = build_head(classifier_bias=True, act_cfg=dict(type='ReLU'))
    assert biased.conv_seg.bias is not None
    assert isinstance(biased.conv.activate, nn.ReLU)
    assert build_head(kernel_size=1).conv.conv.kernel_size == (1, 1)
    with pytest.raises(ValueError, match='dropout_type'):
        build_head(dropout_type='AlphaDropout')
    with pytest.raises(ValueError, match='kernel_size'):
        build_head(kernel_size=2)


@pytest.mark.parametrize('config', ['configs/_base_/models/mobanet_vit_l.py',
                                    'configs/mobanet/mobanet_demo.py'])
def test_paper_and_demo_configs_use_the_official_aux_head(config):
    model = Config.fromfile(osp.join(REPO, config)).model
    heads = model.auxiliary_head
    assert [h.type for h in heads] == ['MoBaNetAuxHead'] * 2
    assert [h.in_index for h in heads] == [4, 8]
    assert all(h.loss_decode.loss_weight == 0.01 for h in heads)
    assert all(h.norm_cfg.type == 'SyncBN' for h in heads)
    assert model.aux_hard_pixels_only is True


def test_fcn_head_stays_a_working_alternative():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/_base_/models/mobanet_vit_l.py'))
    head_cfg = dict(cfg.model.auxiliary_head[0])
    head_cfg.update(type='FCNHead', num_convs=1, concat_input=False,
                    in_channels=16, channels=16, in_index=0,
                    norm_cfg=dict(type='BN', requires_grad=True))
    for key in ('kernel_size', 'act_cfg', 'dropout_type', 'classifier_bias'):
        head_cfg.pop(key)
    fcn = MODELS.build(head_cfg)
    assert isinstance(fcn, FCNHead) and fcn.conv_seg.bias is not None
    assert fcn([torch.randn(2, 16, 4, 4)]).shape == (2, 6, 4, 4)
    assert isinstance(build_head(), MoBaNetAuxHead)
