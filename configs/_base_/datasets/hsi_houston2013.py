# Houston2013: HSI 144 + LiDAR 1, 15 classes, contest split 2832 / 12197.
# Files, layout and split: see the docstring of
# m3plugins.datasets.hsi.Houston2013. Protocols: see hsi_scene.py.
_base_ = './hsi_scene.py'
scene = dict(
    _delete_=True,
    type='Houston2013',
    root='data/houston2013',
    modalities=('hsi', 'lidar'),
    normalization='minmax')
train_dataloader = dict(dataset=dict(scene=scene))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
# The scene's facts, stated once: the model configs read them
# (model.data_preprocessor.modality_channels, decode_head.num_classes).
scene_modality_channels = [('hsi', 144), ('lidar', 1)]
scene_num_classes = 15
