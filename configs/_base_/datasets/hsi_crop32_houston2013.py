# M3amba's official crop protocol (arXiv 2503.06446, DESIGN 3.2) on
# Houston2013 (HSI 144 + LiDAR 1, 15 classes, contest split): every band
# min-max scaled over the whole scene, scene zero-padded by 16, 32 x 32
# training crops on a stride-8 grid kept if they hold a training label, test
# crops stride 32 kept if they hold a test label; labels 0 / other split ->
# 255 (ignored). No augmentation (the official loader has none). Scenes
# built from the same config are loaded once per process.
scene = dict(
    type='Houston2013',
    root='data/houston2013',
    modalities=('hsi', 'lidar'),  # stacking order = model.modality_channels
    normalization='minmax')
meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape',
             'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
             'window', 'scene_shape')
train_pipeline = [
    dict(type='LoadHSISceneWindow'),
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
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='HSISceneDataset',
        scene=scene,
        split='test',
        protocol='crop',
        crop_size=32,
        stride=32,
        padding=16,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# OA / AA / Kappa (+ per-class accuracy) over labeled test pixels.
val_evaluator = dict(type='HSIClassificationMetric', ignore_index=255)
test_evaluator = val_evaluator
