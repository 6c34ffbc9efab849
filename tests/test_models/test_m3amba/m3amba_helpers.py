"""Tiny M3amba parts for CPU tests (a 1-block, 32 px CLIP tower)."""
import copy

import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import m3plugins  # noqa: F401

# open_clip ViT-B-32 shrunk: 32 px input, /16 patches, width 32, one block,
# 24-d pooled embedding. Random weights (no download).
TINY_CLIP_KWARGS = dict(
    embed_dim=24,
    vision_cfg=dict(image_size=32, patch_size=16, width=32, layers=1,
                    head_width=16, mlp_ratio=2),
    text_cfg=dict(context_length=8, vocab_size=64, width=16, heads=2,
                  layers=1))
TINY_TOWER = dict(source='open_clip', name='ViT-B-32', pretrained=None,
                  model_kwargs=TINY_CLIP_KWARGS)
MODALITIES = dict(hsi=5, lidar=2)
CROP = (8, 6)  # deliberately not square, not 32
WIDTH = 16
NUM_CLASSES = 4


def tiny_model_cfg(**overrides) -> ConfigDict:
    """Config of a tiny M3amba (width 16, 2 layers) on 8 x 6 crops."""
    cfg = dict(
        type='M3amba',
        data_preprocessor=dict(type='MultimodalSegDataPreProcessor',
                               modality_channels=list(MODALITIES.items()),
                               size=CROP, pad_val=0, seg_pad_val=255),
        backbone=dict(type='M3ambaCLIPAdapterBackbone', crop_size=CROP,
                      embed_dims=WIDTH,
                      foundation_model=copy.deepcopy(TINY_TOWER)),
        neck=dict(type='M3ambaFusionNeck', embed_dims=WIDTH, depth=2,
                  d_state=4, dt_rank='auto', drop_path_rate=0.1),
        decode_head=dict(type='M3ambaHead', in_channels=WIDTH,
                         num_classes=NUM_CLASSES),
        test_cfg=dict(mode='whole'))
    cfg.update(overrides)
    return ConfigDict(cfg)


def build(cfg):
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return MODELS.build(cfg)


def data_samples(labels: torch.Tensor):
    """SegDataSamples from (B, H, W) label maps."""
    samples = []
    for label in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None].long())
        shape = tuple(label.shape)
        sample.set_metainfo(dict(img_shape=shape, ori_shape=shape,
                                 pad_shape=shape))
        samples.append(sample)
    return samples


def tiny_model(**overrides):
    torch.manual_seed(0)
    return build(tiny_model_cfg(**overrides))
