# M3amba (arXiv 2503.06446) on Houston2013: HSI 144 + LiDAR 1, 15 classes,
# official 32 x 32 crop protocol, frozen OpenAI CLIP ViT-B/32.
_base_ = [
    '../_base_/models/m3amba.py',
    '../_base_/datasets/hsi_crop32_houston2013.py',
    '../_base_/schedules/schedule_m3amba_20k.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(modality_channels=[('hsi', 144), ('lidar', 1)]),
    decode_head=dict(num_classes=15))
