# M3amba's official crop protocol (see hsi_crop32_houston2013.py) on MUUFL
# Gulfport (HSI 64 + LiDAR 2, 11 classes; no standard split: the scene's
# seeded per-class sampling, 20 per class by default).
_base_ = ['./hsi_crop32_houston2013.py']
scene = dict(
    type='MUUFL',
    root='data/muufl',
    modalities=('hsi', 'lidar'),
    normalization='minmax')
train_dataloader = dict(dataset=dict(scene=scene))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
