# MoBaNet's official schedule (arXiv 2603.17705; sauryeo/MoBaNet train.py at
# 1ae0e7ef24b2f7df794ef579ad4a2b4ee8bdc739, lines 81-115): AdamW, lr 2e-4,
# betas (0.9, 0.999), weight decay 0.05 except on biases and every 1-D
# parameter (norms, CPIA gammas / betas), no gradient clipping; 50 epochs.
# train.py steps a LambdaLR once per epoch, after the epoch, so epoch e
# (from 0) runs at lr * official_factor(e): (e + 1) / 5 over the 5 warm-up
# epochs (the first epoch at 4e-5), then a cosine per epoch towards 1e-6
# (reached one epoch after the last: epoch 49 runs at 1.24e-6).
# Epoch length: the official ISPRS_dataset serves SAMPLES_PER_EPOCH = 24 x
# 1000 random crops per epoch (utils.py lines 36-40: BASE_BATCH_SIZE 24,
# ITERATIONS_PER_EPOCH 1000), i.e. 1000 iterations at the official batch
# of 24 (isprs_*_rgb_dsm.py). Our datasets draw one random crop per tile
# and iteration-based loops have no epochs, so the epoch is configured
# here, in iterations. mmengine evaluates this file on its own: a config
# that changes iters_per_epoch or max_epochs must also restate
# param_scheduler (the list below reads them when this file is parsed).
# Per-iteration linear warm-up instead: schedule_mobanet_50k_linear_warmup.py.
import math

base_lr = 2e-4
min_lr = 1e-6
iters_per_epoch = 1000
max_epochs = 50
warmup_epochs = 5
max_iters = max_epochs * iters_per_epoch
warmup_iters = warmup_epochs * iters_per_epoch


def official_factor(epoch):
    """Multiplier of base_lr in epoch ``epoch``: train.py's lr_lambda."""
    if epoch < warmup_epochs:
        return (epoch + 1) / warmup_epochs
    progress = (epoch - warmup_epochs) / (max_epochs - warmup_epochs)
    floor = min_lr / base_lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
# One ConstantLR per epoch holds lr * official_factor(e) on the epoch's
# iterations [e * iters_per_epoch, (e + 1) * iters_per_epoch). mmengine's
# ConstantLR gives the base value back at step end - 1, hence end one past
# the epoch: at each epoch boundary the finished epoch's scheduler restores
# lr and the next one (later in the list) applies its factor in the same
# step, so iteration i runs at the official rate of epoch i // 1000.
param_scheduler = [
    dict(type='ConstantLR', factor=official_factor(epoch), by_epoch=False,
         begin=epoch * iters_per_epoch, end=(epoch + 1) * iters_per_epoch + 1)
    for epoch in range(max_epochs)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Checkpoint / logger intervals are in the leaf configs (default_hooks
# lives in default_runtime.py).
