# SpectralMamba (arXiv 2404.08489), patchwise, on Augsburg: HSI 180 + SAR 4 (one extra token per pixel); add the DSM with
# modalities=('hsi', 'sar', 'dsm') in the scene and dsm=1 here.
# Train on 32 x 32 crops (crop protocol), test on the whole scene in one pass;
# the class map is written by HSIClassMapHook. Model choices: see
# configs/_base_/models/spectralmamba.py and the SpectralMamba docstring.
_base_ = [
    '../_base_/models/spectralmamba.py', '../_base_/datasets/hsi_augsburg.py',
    '../_base_/schedules/schedule_hsi_4k.py', '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(
        modality_channels={{_base_.scene_modality_channels}}),
    decode_head=dict(num_classes={{_base_.scene_num_classes}}))
