# M3amba's official crop protocol (see hsi_crop32_houston2013.py) on Trento
# (HSI 63 + LiDAR 1, 6 classes, standard split).
_base_ = ['./hsi_crop32_houston2013.py']
scene = dict(
    type='Trento',
    root='data/trento',
    modalities=('hsi', 'lidar'),
    normalization='minmax')
train_dataloader = dict(dataset=dict(scene=scene))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
