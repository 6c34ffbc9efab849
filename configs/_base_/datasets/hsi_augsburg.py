# Augsburg: HSI 180 + SAR 4, 7 classes, split 761 / 77533.
# Files, layout and split: see the docstring of
# m3plugins.datasets.hsi.Augsburg. Protocols: see hsi_scene.py.
_base_ = './hsi_scene.py'
scene = dict(
    _delete_=True,
    type='Augsburg',
    root='data/augsburg',
    modalities=('hsi', 'sar'),
    normalization='minmax')
train_dataloader = dict(dataset=dict(scene=scene))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
# The scene's facts, stated once: the model configs read them
# (model.data_preprocessor.modality_channels, decode_head.num_classes).
scene_modality_channels = [('hsi', 180), ('sar', 4)]
scene_num_classes = 7
