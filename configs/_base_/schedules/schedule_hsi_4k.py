# Iteration-based schedule for the tiny HSI classifiers (SpectralMamba,
# arXiv 2404.08489). No official code exists (danfenghong/SpectralMamba
# holds a README only) and the paper's training settings were not compared
# here, so every setting below is ours: AdamW lr 5e-3, betas (0.9, 0.999),
# weight decay 1e-4 except on the SSM parameters A_log and D (Mamba's
# convention, as the M3amba schedule; m3plugins/models/s6_initialisation.py),
# a 100-iteration linear warm-up from 10 % of lr, a cosine to 1e-5, 4k
# iterations (batch 16 crops in the data configs).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-3, betas=(0.9, 0.999),
                   weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={
        'A_log': dict(decay_mult=0.0),
        '_scan.D': dict(decay_mult=0.0)
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=100,
         end=4000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Checkpoint / logger intervals come from configs/_base_/default_runtime.py.
