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
# The scene's facts, stated once: the model configs read them
# (model.data_preprocessor.modality_channels, decode_head.num_classes).
scene_modality_channels = [('hsi', 63), ('lidar', 1)]
scene_num_classes = 6
