# Schedule for M3amba (arXiv 2503.06446). The official repository
# (kaka-Cao/M3amba at 5efde13e3ca0d80473f61e789e375bed641fbfe7) ships
# test.py, its data loader, utils/crop.py and the network, no training
# script; the paper's training settings were not compared here. Every
# setting below is therefore ours: AdamW lr 1e-4, betas (0.9, 0.999),
# weight decay 0.05, gradient clipping at norm 1, a 500-iteration linear
# warm-up from 1 % of lr, a cosine to 1e-6, 20k iterations (batch 16 in the
# data configs). No weight decay on norms, biases and the SSM parameters
# A_logs and Ds: the official network marks the last two _no_weight_decay
# (net/net_vmamba_v4.py, mamba_init.A_log_init / D_init, as VMamba), the
# rest is VMamba's convention.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'A_logs': dict(decay_mult=0.0),
            '.Ds': dict(decay_mult=0.0)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=500),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=500,
         end=20000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000,
                 val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
