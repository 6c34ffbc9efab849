# Trento: HSI 63 + LiDAR 1, 6 classes, split 819 / 29395.
# Files, layout and split: see the docstring of
# m3plugins.datasets.hsi.Trento. Protocols: see hsi_scene.py.
_base_ = './hsi_scene.py'
scene = dict(
    _delete_=True,
    type='Trento',
    root='data/trento',
    modalities=('hsi', 'lidar'),
    normalization='minmax')
train_dataloader = dict(dataset=dict(scene=scene))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
