# MoBaNet on the built-in demo tiles (optical RGB + DSM in the ISPRS Potsdam
# layout, 4 training + 2 test tiles of 512 px; written on first use under
# data/m3plugins_demo/potsdam, no download), with a small random-weight
# DINOv2-style ViT tower (4 blocks, width 192, patch 7, pretrained=None) so
# that it runs anywhere (`tools/demo.py --tower-weights FILE` runs the real
# ViT-S/14 from a local file instead):
#   python tools/train.py configs/mobanet/mobanet_demo.py
#   python tools/test.py configs/mobanet/mobanet_demo.py \
#       work_dirs/mobanet_demo/iter_150.pth --show-dir vis
# Everything else is the official model (CPIA, DGFM, official UPerNet head,
# hard-pixel aux heads, MCRM); the tower is random, so the trainable parts
# (DSM patch embedding, CPIA, DGFM, heads) do all the learning. Whole-tile
# inference.
_base_ = [
    '../_base_/models/mobanet_vit_l.py',
    '../_base_/datasets/isprs_potsdam_rgb_dsm.py',
    '../_base_/schedules/schedule_mobanet_50k.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
# Demo geometry, not the paper's (256 crops, /14 patches): the demo tiles'
# objects are about 4x smaller than Potsdam's at 5 cm (cars 12 x 24 px,
# tree crowns 16-40 px across), so /14 tokens on 112 px crops (an 8 x 8
# grid) never predicted a tree, car or clutter pixel (3 seeds: mIoU
# 53.3-54.6). /7 tokens on 56 px crops keep the same 8 x 8 grid and CPU
# time per step and find the trees (3 seeds: mIoU 76.9-77.9 with lr 2e-3;
# 53.9-76.8 with 1e-3). Cars and clutter cover 0.5 % and 0.3 % of the
# labelled pixels (low vegetation 49 %): with the paper's unweighted loss no
# seed predicted a car or clutter pixel in 150 steps. The demo's loss
# therefore weights the classes about inversely to their frequency, cars
# and clutter raised until every seed predicts them (see class_weight).
# (Pretrained DINOv2 weights need patch 14; --tower-weights resets it.)
crop_size = (56, 56)
data_root = 'data/m3plugins_demo/potsdam'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        foundation_model=dict(
            source='timm',
            name='vit_small_patch14_dinov2',
            pretrained=None,
            model_kwargs=dict(
                img_size=crop_size[0], patch_size=7, depth=4,
                embed_dim=192, num_heads=3)),
        tap_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=192, out_channels=64),
    decode_head=dict(
        in_channels=[64, 64, 64, 64],
        # Demo only (the paper's loss is unweighted): impervious, building,
        # low vegetation, tree, car, clutter.
        loss_decode=dict(class_weight=[1.0, 1.0, 0.5, 2.0, 16.0, 40.0])),
    auxiliary_head=[
        dict(
            type='MoBaNetAuxHead', in_channels=64, in_index=index,
            channels=64, dropout_ratio=0.1,
            num_classes=6, norm_cfg=dict(type='SyncBN', requires_grad=True),
            align_corners=False,
            loss_decode=dict(
                type='ClassWeightedCrossEntropyLoss', use_sigmoid=False,
                loss_weight=0.01, avg_non_ignore=True))
        for index in (4, 8)  # stage-1 optical, stage-1 DSM
    ],
    test_cfg=dict(_delete_=True, mode='whole'))
# The Potsdam base's loaders and paper-protocol metric, on the demo tiles
# (explicit tile ids override the base's split) with small crops, in-process.
dataset_type = 'ISPRSPotsdamDemoDataset'
train_pipeline = [
    dict(type='LoadRandomMultimodalWindow', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        tiles=['2_10', '3_11', '6_8', '7_12'],
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type, data_root=data_root, tiles=['2_13', '5_14']))
test_dataloader = val_dataloader
max_iters = 150
optim_wrapper = dict(optimizer=dict(lr=2e-3))  # demo schedule (above)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=15),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=15,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# Every test tile is painted when tools/test.py gets --show-dir.
default_hooks = dict(
    visualization=dict(interval=1),
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
