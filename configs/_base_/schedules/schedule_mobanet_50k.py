# MoBaNet's official schedule (arXiv 2603.17705, sauryeo/MoBaNet): AdamW,
# lr 2e-4, weight decay 0.05 except on norms, biases and every other 1-D
# parameter (CPIA gammas / betas, LayerNorm, GroupNorm, BN), 5 "epochs" of
# 1000 iterations linear warm-up, then cosine to 1e-6; 50 x 1000 iterations.
# The warm-up start (lr * 0.005 = 1e-6) is not stated; chosen to mirror the
# cosine floor.
max_iters = 50000
warmup_iters = 5000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.005, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Checkpoint / logger intervals are in the leaf configs (default_hooks
# lives in default_runtime.py).
