# MoBaNet's optimizer and length (schedule_mobanet_50k.py) with a smooth
# schedule instead of the official per-epoch staircase: lr rises linearly
# per iteration from base_lr * 0.005 (1e-6, chosen to mirror the cosine
# floor; train.py starts at base_lr / 5) to base_lr over the warm-up
# iterations, then follows a per-iteration cosine down to min_lr, which it
# reaches at the last iteration. Not the official loop: its first 1000
# iterations run at 4e-5, these climb from 1e-6. To use it, name this file
# instead of schedule_mobanet_50k.py in a config's _base_.
_base_ = './schedule_mobanet_50k.py'
param_scheduler = [
    dict(type='LinearLR', start_factor=0.005, by_epoch=False, begin=0,
         end={{_base_.warmup_iters}}),
    dict(type='CosineAnnealingLR', eta_min={{_base_.min_lr}}, by_epoch=False,
         begin={{_base_.warmup_iters}}, end={{_base_.max_iters}}),
]
