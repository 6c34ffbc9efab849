# SpectralMamba, pixelwise variant (spectrum only: every kernel 1x1), on
# Houston2013. Same data protocol as the patchwise config.
_base_ = './spectralmamba_houston2013.py'
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
model = dict(backbone=dict(variant='pixelwise'))
