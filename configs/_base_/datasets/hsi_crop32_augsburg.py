# M3amba's official crop protocol (see hsi_crop32_houston2013.py) on Augsburg
# (HSI 180 + Sentinel-1 SAR 4, 7 classes, standard split; the DSM is not used,
# as in M3amba).
_base_ = ['./hsi_crop32_houston2013.py']
scene = dict(
    type='Augsburg',
    root='data/augsburg',
    modalities=('hsi', 'sar'),
    normalization='minmax')
train_dataloader = dict(dataset=dict(scene=scene))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
