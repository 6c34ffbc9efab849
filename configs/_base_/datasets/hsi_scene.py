# One hyperspectral scene served to MMSeg by HSISceneDataset (see the
# contract in m3plugins/datasets/hsi_scene_dataset.py). Scene bases
# (hsi_<scene>.py) only replace `scene` in the three dataloaders.
#
# Train: the crop protocol (M3amba's official one): scene min-max scaled per
#   band, zero-padded by 16, 32 x 32 crops on a stride-8 grid kept if they
#   hold a training label; labels 0 / test pixels -> 255 (ignored).
#   Patch protocol instead (one p x p patch per training pixel, centre
#   labeled): train_dataloader = dict(dataset=dict(protocol='patch',
#   patch_size=7)) -- see configs/spectralmamba/*_patch.py.
# Val / test: the whole scene in one pass ('whole' protocol), so every test
#   pixel is counted once and predictions equal crop-by-crop inference for a
#   fully convolutional model; HSIClassMapHook stitches the scene map.
scene = dict(
    type='Houston2013',
    root='data/houston2013',
    modalities=('hsi', 'lidar'),  # stacking order = modality_channels
    normalization='minmax')
meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape',
             'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
             'window', 'scene_shape')
train_pipeline = [
    dict(type='LoadHSISceneWindow'),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25],
        direction=['horizontal', 'vertical']),
    dict(type='PackSegInputs', meta_keys=meta_keys)
]
test_pipeline = [
    dict(type='LoadHSISceneWindow'),
    dict(type='PackSegInputs', meta_keys=meta_keys)
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='HSISceneDataset',
        scene=scene,
        split='train',
        protocol='crop',
        crop_size=32,
        stride=8,
        padding=16,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='HSISceneDataset',
        scene=scene,
        split='test',
        protocol='whole',
        padding=0,  # the model zero-pads by its own receptive field
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# OA / AA / Kappa, per-class accuracy and confusion matrix over test pixels.
val_evaluator = dict(type='HSIClassificationMetric', ignore_index=255)
test_evaluator = val_evaluator
# Whole-scene class map (PNG + legend, GeoTIFF or .npy) when testing.
custom_hooks = [dict(type='HSIClassMapHook')]
# M3amba's official crop protocol (arXiv 2503.06446; code kaka-Cao/M3amba,
# utils/crop.py and data_loader.py), stated once for every scene: every band
# min-max scaled over the scene, the scene zero-padded by 16, 32 x 32
# training crops on a stride-8 grid kept if they hold a training label, no
# augmentation (the official loader has none). M3amba maps each crop to a
# fixed 32 x 32 grid, so validation and testing use 32 x 32 crops too
# (stride 32, padding 16: every test pixel in exactly one crop) instead of
# the whole scene. M3amba configs apply it to their scene:
#   train_dataloader = dict(dataset={{_base_.crop32_train_dataset}})
#   val_dataloader = {{_base_.crop32_test_dataloader}}
crop32_train_dataset = dict(
    protocol='crop',
    crop_size=32,
    stride=8,
    padding=16,
    pipeline=[
        dict(type='LoadHSISceneWindow'),
        dict(type='PackSegInputs', meta_keys=meta_keys)
    ])
crop32_test_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(protocol='crop', crop_size=32, stride=32, padding=16))
