"""Every shipped config: one step gives each trainable parameter a gradient.

So DDP runs with ``find_unused_parameters=False``.

Each config's model is built as the config declares it (modalities, classes,
heads, losses, frozen parts), with the foundation towers and widths shrunk so
that the step takes well under a second on a CPU.
"""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from repo_root import REPO_ROOT

import m3plugins  # noqa: F401
from m3plugins.utils.modalities import ordered_modality_channels

REPO = REPO_ROOT
CONFIGS = sorted(
    osp.relpath(path, REPO)
    for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                          recursive=True)
    if '_base_' not in path)

TINY_CLIP = dict(
    source='open_clip', name='ViT-B-32', pretrained=None,
    model_kwargs=dict(
        embed_dim=24,
        vision_cfg=dict(image_size=32, patch_size=16, width=32, layers=1,
                        head_width=16, mlp_ratio=2),
        text_cfg=dict(context_length=8, vocab_size=64, width=16, heads=2,
                      layers=1)))
TINY_VIT = dict(
    source='timm', name='vit_small_patch14_dinov2', pretrained=None,
    model_kwargs=dict(img_size=28, depth=4, embed_dim=32, num_heads=2))


def shrink(model):
    """Tiny towers and widths; returns (model cfg, channels, input size)."""
    model = copy.deepcopy(model)
    if model.type == 'M3amba':
        size = (8, 8)
        model.backbone.foundation_model = copy.deepcopy(TINY_CLIP)
        model.backbone.crop_size = size
        model.backbone.embed_dims = 16
        model.data_preprocessor.size = size
        model.neck.update(embed_dims=16, depth=2, d_state=4, dt_rank='auto')
        model.decode_head.in_channels = 16
    elif model.type == 'MoBaNetSegmentor':
        size = (28, 28)
        model.backbone.foundation_model = copy.deepcopy(TINY_VIT)
        model.backbone.tap_indices = (0, 1, 2, 3)
        model.neck.update(in_channels=32, out_channels=16)
        model.decode_head.update(in_channels=[16] * 4, channels=8)
        for head in model.auxiliary_head or []:
            head.update(in_channels=16, channels=8)
        model.data_preprocessor.size = size
        model.test_cfg = dict(mode='whole')
    else:  # SpectralMamba: already tiny
        size = (8, 8)
    # The layout is declared once, in the data preprocessor; data without
    # its missing modalities (an optical-only config feeds 3 of 4) works.
    preprocessor = model.data_preprocessor
    layout = ordered_modality_channels(preprocessor.modality_channels)
    missing = preprocessor.get('missing_modalities') or []
    channels = sum(c for name, c in layout.items() if name not in missing)
    return model, channels, size


def batch(channels, size, num_classes, batch_size=2):
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.rand(channels, *size, generator=gen))
        label = torch.randint(0, num_classes, (1, *size), generator=gen)
        label[:, ::3] = 255  # sparse labels, as the HSI scenes
        sample = SegDataSample(metainfo=dict(
            img_shape=size, ori_shape=size, pad_shape=size))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('config', CONFIGS)
def test_one_step_reaches_every_trainable_parameter(config):
    cfg = Config.fromfile(osp.join(REPO, config))
    assert not cfg.get('find_unused_parameters', False)
    model_cfg, channels, size = shrink(cfg.model)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.train()
    data = model.data_preprocessor(
        batch(channels, size, model.decode_head.num_classes), True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable
    without_grad = sorted(n for n, p in trainable.items() if p.grad is None)
    assert without_grad == [], f'{config}: no gradient for {without_grad}'


def test_the_check_catches_an_unused_parameter():
    """The assertion above can fail.

    An M3amba whose guide dt projection is made trainable again leaves it
    without a gradient.
    """
    cfg = Config.fromfile(osp.join(REPO, 'configs/m3amba/m3amba_demo.py'))
    model_cfg, channels, size = shrink(cfg.model)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    model = MODELS.build(model_cfg)
    params = dict(model.named_parameters())
    names = [n for n in params if 'scan_params_guide.dt_projs_weight' in n]
    assert names and not any(params[n].requires_grad for n in names)
    for name in names:
        params[name].requires_grad_(True)
    model.train()
    data = model.data_preprocessor(batch(channels, size, 7), True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    assert all(params[n].grad is None for n in names)
