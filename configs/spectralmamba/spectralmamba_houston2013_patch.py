# SpectralMamba on Houston2013 with the classic patch protocol: one 7 x 7
# patch per training pixel, only its centre labeled (7 >= the model's
# 5-pixel receptive field, so the centre sees its whole neighbourhood).
# Testing stays on the whole scene (same predictions as patch-by-patch
# inference at every test pixel, at a fraction of the cost).
_base_ = './spectralmamba_houston2013.py'
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
train_dataloader = dict(
    batch_size=64, dataset=dict(protocol='patch', patch_size=7))
