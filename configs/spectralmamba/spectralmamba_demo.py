# SpectralMamba on the built-in demo scene (96 x 160, HSI 144 + LiDAR 1,
# 7 classes, 20 training pixels per class), generated on first use under
# data/m3plugins_demo/houston2013 (scene type HSIDemoScene; no download).
#   python tools/train.py configs/spectralmamba/spectralmamba_demo.py
# trains in well under 2 minutes on 2 CPU cores (60 iterations) and
# validates OA / AA / Kappa on the whole scene; tools/test.py writes the
# scene's class map (HSIClassMapHook).
_base_ = [
    '../_base_/models/spectralmamba.py', '../_base_/datasets/hsi_scene.py',
    '../_base_/schedules/schedule_hsi_4k.py', '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
scene = dict(
    _delete_=True,
    type='HSIDemoScene',
    root='data/m3plugins_demo/houston2013',
    modalities=('hsi', 'lidar'),
    normalization='minmax')
model = dict(
    data_preprocessor=dict(modality_channels=[('hsi', 144), ('lidar', 1)]),
    decode_head=dict(num_classes=7))
# The classic patch protocol: 140 training pixels, one 5 x 5 patch each
# (= the model's receptive field, so no computation is wasted on context
# the centre pixel cannot see); 32 x 32 crops also work but spend most of
# their CPU time on unlabeled pixels.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(scene=scene, protocol='patch', patch_size=5))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
max_iters = 60
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=10),
    dict(type='CosineAnnealingLR', eta_min=1e-4, by_epoch=False, begin=10,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters))
optim_wrapper = dict(optimizer=dict(lr=1e-2))
randomness = dict(seed=0)
