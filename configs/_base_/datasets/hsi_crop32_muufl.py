# M3amba's official crop protocol (arXiv 2503.06446; code kaka-Cao/M3amba) on MUUFL
# Gulfport (HSI 64 + LiDAR 2, 11 classes; no standard split: the scene's
# seeded per-class sampling). The scene comes from hsi_muufl.py (shared with
# SpectralMamba): every band min-max scaled over the whole scene, scene zero-
# padded by 16, 32 x 32 training crops on a stride-8 grid kept if they hold a
# training label. M3amba maps each crop to a fixed 32 x 32 grid, so validation
# and testing use 32 x 32 crops too (stride 32, padding 16: every test pixel
# in exactly one crop) instead of the whole scene. No augmentation (the
# official loader has none).
_base_ = './hsi_muufl.py'
train_pipeline = [
    dict(type='LoadHSISceneWindow'),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}})
]
train_dataloader = dict(
    dataset=dict(
        protocol='crop',
        crop_size=32,
        stride=8,
        padding=16,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(protocol='crop', crop_size=32, stride=32, padding=16))
test_dataloader = val_dataloader
