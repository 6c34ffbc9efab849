"""Tiny MoBaNet configs and batches shared by the MoBaNet tests."""
import copy
import os.path as osp

import torch
from mmengine.config import Config  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402
from repo_root import REPO_ROOT

import m3plugins  # noqa: F401  (first: mmcv-lite compat for mmseg)

# Configs name MMSeg's modules without scope ('SegDataPreProcessor').
register_all_modules(init_default_scope=True)

REPO = REPO_ROOT

#: A random-weight DINOv2-style ViT: 64 wide, 4 blocks, /14 patches.
TINY_FOUNDATION = dict(
    source='timm', name='vit_small_patch14_dinov2', pretrained=None,
    model_kwargs=dict(img_size=56, depth=4, embed_dim=64, num_heads=2))


def tiny_backbone_cfg(**overrides):
    cfg = dict(type='MoBaNetBackbone',
               foundation_model=copy.deepcopy(TINY_FOUNDATION),
               modality_channels=[('optical', 3), ('dsm', 1)],
               tap_indices=(0, 1, 2, 3))
    cfg.update(overrides)
    return cfg


def tiny_model_cfg(**overrides):
    """The ViT-L base config with a tiny tower and whole inference."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/_base_/models/mobanet_vit_l.py'))
    model = cfg.model
    model.backbone = tiny_backbone_cfg()
    model.neck.in_channels = 64
    model.test_cfg = dict(mode='whole')
    model.update(overrides)
    return model


def make_batch(batch_size=2, size=(50, 60), num_classes=6, seed=0):
    """Raw (uint8-range optical + [0, 1] DSM) inputs and random labels."""
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        optical = torch.rand(3, *size, generator=gen) * 255
        dsm = torch.rand(1, *size, generator=gen)
        inputs.append(torch.cat([optical, dsm]))
        sample = SegDataSample(metainfo=dict(
            img_shape=size, ori_shape=size, pad_shape=size))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, *size), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def tiny_demo_config(data_root, work_dir, max_iters=4):
    """configs/mobanet/mobanet_demo.py shrunk to seconds on tiny tiles."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/mobanet/mobanet_demo.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.foundation_model = copy.deepcopy(TINY_FOUNDATION)
    cfg.model.neck.in_channels = 64
    cfg.model.data_preprocessor.size = (28, 28)
    cfg.train_dataloader.batch_size = 4
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.type = 'ISPRSPotsdamDataset'
        loader.dataset.data_root = str(data_root)
    cfg.train_dataloader.dataset.tiles = ['2_10', '3_11']
    cfg.train_dataloader.dataset.pipeline[0].crop_size = (28, 28)
    cfg.val_dataloader.dataset.tiles = ['2_13']
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0,
                                by_epoch=False)]
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg
