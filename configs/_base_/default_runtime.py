# MMSeg's runtime (default_scope 'mmseg', visualizer, log processor) plus
# what every m3plugins config opts into, through MMSeg's own mechanisms.
# `import m3plugins` itself changes nothing of mmengine or MMSeg beyond the
# mmcv-lite stand-in and torch's checkpoint allowlist (see the README); a
# config of your own gets the items below only by declaring them.
# Iteration-based, as in MMSeg.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
# Checked checkpoint loading, resume from the newest checkpoint that loads,
# gloo on machines without a GPU, one line for frozen parameters and a clear
# exit (status 2) for user errors, under every entry point (tools/train.py,
# MMSeg's tools, mim train/test): m3plugins/engine/m3plugins_runner.py.
runner_type = 'M3PluginsRunner'
# mmengine's DDP wrapper that also takes CPU models (gloo).
model_wrapper_cfg = dict(
    type='CPUDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook, rotated so that a kill at any moment leaves
    # the newest complete checkpoint and a valid last_checkpoint.
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # Every rank's random states in each checkpoint: --resume continues bit
    # for bit as an uninterrupted run (same seed and number of processes).
    rng_state=dict(type='RNGStateCheckpointHook'),
    # The data contract (modality layout, class count, normalisation) checked
    # against the model before every loop, and the model's tile size written
    # into each checkpoint's contract.
    data_contract=dict(type='DataContractCheckHook'),
    # Frozen towers loaded from a named weight file or tag are left out of
    # checkpoints (1.3 GB -> ~36 MB for MoBaNet ViT-L) and re-attached on
    # load from that source, hash checked; save_frozen=True keeps them.
    frozen_weights=dict(type='FrozenWeightsCheckpointHook', save_frozen=False),
    # On CPUs: the intra-op thread count that trains faster right now (the
    # process's share of the cores, or one), measured on the training
    # iterations every 500; off for deterministic runs and set counts.
    thread_tuning=dict(type='ThreadTuningHook'))
