# M3amba (arXiv 2503.06446) on MUUFL Gulfport: HSI 64 + LiDAR 2 rasters,
# 11 classes, official 32 x 32 crop protocol, frozen OpenAI CLIP ViT-B/32.
_base_ = [
    '../_base_/models/m3amba.py',
    '../_base_/datasets/hsi_muufl.py',
    '../_base_/schedules/schedule_m3amba_20k.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(
        modality_channels={{_base_.scene_modality_channels}}),
    decode_head=dict(num_classes={{_base_.scene_num_classes}}))
# M3amba's official 32 x 32 crop protocol (configs/_base_/datasets/hsi_scene.py)
train_dataloader = dict(dataset={{_base_.crop32_train_dataset}})
val_dataloader = {{_base_.crop32_test_dataloader}}
test_dataloader = val_dataloader
