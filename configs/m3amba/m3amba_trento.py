# M3amba (arXiv 2503.06446) on Trento: HSI 63 + LiDAR 1, 6 classes,
# official 32 x 32 crop protocol, frozen OpenAI CLIP ViT-B/32.
_base_ = [
    '../_base_/models/m3amba.py',
    '../_base_/datasets/hsi_crop32_trento.py',
    '../_base_/schedules/schedule_m3amba_20k.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(modality_channels=[('hsi', 63), ('lidar', 1)]),
    decode_head=dict(num_classes=6))
