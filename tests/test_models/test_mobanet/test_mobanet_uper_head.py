"""MoBaNetUPerHead: the official MoBaNet UPerNet head's form and tensors.

The official head (sauryeo/MoBaNet, ``Net.py`` ``PPM`` / ``UperNetHead``)
is restated below twice, independently of our module: as the list of its
state-dict keys and shapes, and as a functional forward pass over such a
state dict (eval mode). Our head must load the first with no missing and
no unexpected key and reproduce the second.
"""
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import nn

import m3plugins  # noqa: F401  (mmcv-lite shims before mmseg.models)
from m3plugins.models.mobanet import MoBaNetUPerHead

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
BASE_MODEL = osp.join(REPO, 'configs/_base_/models/mobanet_vit_l.py')

IN_CHANNELS = (8, 12, 10, 16)
CHANNELS = 6
NUM_CLASSES = 5
POOL_SCALES = (1, 2, 3, 6)
#: Unequal sizes exercise every resize of the head.
SIZES = ((12, 10), (9, 8), (7, 7), (6, 5))
BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var',
           'num_batches_tracked')


def small_head(**overrides):
    kwargs = dict(in_channels=IN_CHANNELS, channels=CHANNELS,
                  num_classes=NUM_CLASSES, pool_scales=POOL_SCALES)
    kwargs.update(overrides)
    return MoBaNetUPerHead(**kwargs)


def features(scale=1.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(2, c, *hw, generator=gen)
            for c, hw in zip(IN_CHANNELS, SIZES)]


def official_layout(in_channels=IN_CHANNELS, channels=CHANNELS,
                    num_classes=NUM_CLASSES, pool_scales=POOL_SCALES):
    """Key -> shape of the official UperNetHead's state dict."""
    shapes = {}

    def conv_bn(prefix, cin, kernel):
        shapes[prefix + '0.weight'] = (channels, cin, kernel, kernel)
        for key in BN_KEYS:
            shapes[prefix + '1.' + key] = (
                () if key == 'num_batches_tracked' else (channels, ))

    top = in_channels[-1]
    for i in range(len(pool_scales)):  # Sequential(pool, ConvBNReLU 1x1)
        conv_bn(f'ppm.stages.{i}.1.', top, 1)
    conv_bn('ppm.bottleneck.', top + len(pool_scales) * channels, 3)
    for j, width in enumerate(in_channels[:-1]):
        conv_bn(f'lateral_convs.{j}.', width, 1)  # ConvBN
        conv_bn(f'fpn_convs.{j}.', channels, 3)  # ConvBNReLU
    conv_bn('fpn_bottleneck.', len(in_channels) * channels, 3)
    # Sequential(Dropout2d, Conv(channels, classes, 1)): Conv is itself a
    # Sequential holding one bias-free nn.Conv2d.
    shapes['classifier.1.0.weight'] = (num_classes, channels, 1, 1)
    return shapes


def official_state_dict(seed=1):
    """Generated tensors in the official key layout (valid BN statistics)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_layout().items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        else:
            state[key] = 0.3 * torch.randn(shape, generator=gen)
    return state


def official_forward(state, maps, pool_scales=POOL_SCALES):
    """The official PPM + UperNetHead forward in eval mode, from a state dict.

    Logits at the first map's size (the official head then resizes them to
    the input, which MoBaNetSegmentor does for ours).
    """
    def block(x, prefix, relu6):
        x = F.conv2d(x, state[prefix + '0.weight'],
                     padding=state[prefix + '0.weight'].shape[-1] // 2)
        x = F.batch_norm(x, state[prefix + '1.running_mean'],
                         state[prefix + '1.running_var'],
                         state[prefix + '1.weight'], state[prefix + '1.bias'],
                         training=False, eps=1e-5)
        return F.relu6(x) if relu6 else x

    def up(x, like):
        return F.interpolate(x, size=like.shape[2:], mode='bilinear',
                             align_corners=False)

    top = maps[-1]
    pooled = [top] + [
        up(block(F.adaptive_avg_pool2d(top, s), f'ppm.stages.{i}.1.', True),
           top) for i, s in enumerate(pool_scales)]
    p = [None] * len(maps)
    p[-1] = block(torch.cat(pooled, 1), 'ppm.bottleneck.', True)
    for i in range(len(maps) - 2, -1, -1):
        lateral = block(maps[i], f'lateral_convs.{i}.', False)
        p[i] = lateral + up(p[i + 1], lateral)
    outs = [block(p[i], f'fpn_convs.{i}.', True)
            for i in range(len(maps) - 1)] + [p[-1]]
    outs = [outs[0]] + [up(x, outs[0]) for x in outs[1:]]
    fused = block(torch.cat(outs, 1), 'fpn_bottleneck.', True)
    return F.conv2d(fused, state['classifier.1.0.weight'])


def test_state_dict_has_the_official_layout():
    head = small_head()
    ours = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert ours == official_layout()


def test_official_state_dict_loads_one_to_one():
    head = small_head()
    state = official_state_dict()
    # The official model holds the head as `decoder`; ours is the
    # segmentor's `decode_head`: the keys below the prefix are the same.
    checkpoint = {'decoder.' + k: v for k, v in state.items()}
    mapped = {k.replace('decoder.', '', 1): v for k, v in checkpoint.items()}
    result = head.load_state_dict(mapped, strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys == []
    for key, value in head.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize('scale', [1.0, 40.0])
def test_reproduces_the_official_forward(scale):
    head = small_head()
    state = official_state_dict()
    head.load_state_dict(state)
    head.eval()
    maps = features(scale)
    with torch.no_grad():
        ours = head(maps)
        official = official_forward(state, maps)
    assert ours.shape == (2, NUM_CLASSES, *SIZES[0])
    assert torch.allclose(ours, official, rtol=1e-5, atol=1e-5 * scale)


def test_structure_laterals_without_activation_relu6_elsewhere():
    head = small_head()
    for lateral in head.lateral_convs:
        assert [type(m) for m in lateral] == [nn.Conv2d, nn.BatchNorm2d]
        assert lateral[0].kernel_size == (1, 1) and lateral[0].bias is None
    blocks = [stage[1] for stage in head.ppm['stages']]
    blocks += [head.ppm['bottleneck'], head.fpn_bottleneck, *head.fpn_convs]
    for block in blocks:
        assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d,
                                            nn.ReLU6]
        assert block[0].bias is None
    assert [type(s[0]) for s in head.ppm['stages']] == \
        [nn.AdaptiveAvgPool2d] * len(POOL_SCALES)
    assert [s[0].output_size for s in head.ppm['stages']] == \
        list(POOL_SCALES)
    assert isinstance(head.classifier[0], nn.Dropout2d)
    assert head.classifier[0].p == pytest.approx(0.1)
    assert not hasattr(head, 'conv_seg')


def test_activations_clip_at_six_and_laterals_pass_everything():
    head = small_head()
    head.load_state_dict(official_state_dict())
    head.eval()
    seen = {}

    def keep(name):
        def hook(module, args, output):
            seen[name] = output.detach()
        return hook

    head.lateral_convs[0].register_forward_hook(keep('lateral'))
    head.fpn_convs[0].register_forward_hook(keep('fpn'))
    head.ppm['bottleneck'].register_forward_hook(keep('ppm'))
    head.fpn_bottleneck.register_forward_hook(keep('bottleneck'))
    with torch.no_grad():
        head(features(scale=40.0))
    # conv-BN-ReLU6 blocks: inside [0, 6], and large inputs reach 6.
    for name in ('fpn', 'ppm', 'bottleneck'):
        assert seen[name].min() >= 0 and seen[name].max() == 6.0, name
    # conv + BN laterals: no activation, so far below 0 and above 6.
    assert seen['lateral'].max() > 6.0
    assert seen['lateral'].min() < 0.0


def test_classifier_has_no_bias():
    head = small_head()
    conv = head.classifier[1][0]
    assert isinstance(conv, nn.Conv2d) and conv.bias is None
    assert 'classifier.1.0.bias' not in head.state_dict()
    head.eval()
    with torch.no_grad():
        logits = head.cls_seg(torch.zeros(1, CHANNELS, 3, 3))
    assert torch.count_nonzero(logits) == 0  # zero features, zero logits


def test_starts_from_pytorch_initialisation():
    torch.manual_seed(0)
    head = small_head()
    before = {k: v.clone() for k, v in head.state_dict().items()}
    head.init_weights()  # no init_cfg: PyTorch's defaults stay
    for key, value in head.state_dict().items():
        assert torch.equal(value, before[key]), key
    # PyTorch's conv default is kaiming-uniform(a=sqrt(5)): bound
    # 1 / sqrt(fan_in); MMSeg's classifier init would be N(0, 0.01).
    weight = head.classifier[1][0].weight
    assert weight.abs().max() <= 1 / CHANNELS ** 0.5
    assert weight.std() > 0.1


def test_builds_with_the_official_defaults():
    head = MoBaNetUPerHead()
    assert head.in_channels == [256, 256, 256, 256]
    assert head.in_index == [0, 1, 2, 3]
    assert head.channels == 64 and head.num_classes == 6
    assert isinstance(head.ppm['stages'][3][1][2], nn.ReLU6)
    assert head.classifier[1][0].weight.shape == (6, 64, 1, 1)


def test_one_parameter_set_less_than_mmseg_uperhead():
    from mmseg.registry import MODELS
    ours = small_head(norm_cfg=dict(type='BN'))
    mmseg_head = MODELS.build(dict(
        type='UPerHead', in_channels=list(IN_CHANNELS), in_index=[0, 1, 2, 3],
        channels=CHANNELS, num_classes=NUM_CLASSES, pool_scales=POOL_SCALES,
        norm_cfg=dict(type='BN')))
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in mmseg_head.parameters()) - \
        NUM_CLASSES  # only the classifier bias differs in size


@pytest.mark.parametrize('kwargs, message', [
    (dict(norm_cfg=None), 'norm_cfg'),
    (dict(in_channels=(8, ), in_index=(0, )), 'two or more'),
    (dict(in_index=(0, 1)), 'one per in_index'),
    (dict(pool_scales=()), 'pool_scales'),
])
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_head(**kwargs)


def _mobanet_configs():
    paths = glob.glob(osp.join(REPO, 'configs', 'mobanet*.py'))
    paths += glob.glob(osp.join(REPO, 'configs', 'mobanet', '*.py'))
    return sorted(paths)


@pytest.mark.parametrize('path', _mobanet_configs(),
                         ids=lambda p: osp.relpath(p, REPO))
def test_every_mobanet_config_uses_the_official_head(path):
    from mmseg.registry import MODELS
    cfg = Config.fromfile(path).model.decode_head
    assert cfg.type == 'MoBaNetUPerHead'
    head = MODELS.build(cfg)
    assert all(len(lateral) == 2 for lateral in head.lateral_convs)
    assert isinstance(head.fpn_bottleneck[2], nn.ReLU6)
    assert head.classifier[1][0].bias is None
    assert head.channels == 64
    assert [s[0].output_size for s in head.ppm['stages']] == [1, 2, 3, 6]


def test_mmseg_uperhead_stays_available_by_config():
    from mmseg.registry import MODELS
    cfg = Config.fromfile(BASE_MODEL).model.decode_head
    cfg.update(type='UPerHead', in_channels=list(IN_CHANNELS),
               channels=CHANNELS, norm_cfg=dict(type='BN'))
    head = MODELS.build(cfg)
    head.eval()
    with torch.no_grad():
        logits = head(features())
    assert logits.shape == (2, cfg.num_classes, *SIZES[0])
    # MMSeg's form: ReLU after the laterals, ReLU, a biased classifier.
    assert isinstance(head.lateral_convs[0].activate, nn.ReLU)
    assert head.conv_seg.bias is not None
