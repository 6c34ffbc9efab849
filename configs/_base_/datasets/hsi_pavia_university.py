# PaviaUniversity: HSI 103, 9 classes, seeded per-class sampling (scene default).
# Files, layout and split: see the docstring of
# m3plugins.datasets.hsi.PaviaUniversity. Protocols: see hsi_scene.py.
_base_ = './hsi_scene.py'
scene = dict(
    _delete_=True,
    type='PaviaUniversity',
    root='data/pavia_university',
    modalities=('hsi', ),
    normalization='minmax')
train_dataloader = dict(dataset=dict(scene=scene))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
# The scene's facts, stated once: the model configs read them
# (model.data_preprocessor.modality_channels, decode_head.num_classes).
scene_modality_channels = [('hsi', 103)]
scene_num_classes = 9
