# MMSeg's runtime (default_scope 'mmseg', visualizer, log processor) plus the
# hooks every m3plugins config uses. Iteration-based, as in MMSeg.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # Every rank's random states in each checkpoint: --resume continues bit
    # for bit as an uninterrupted run (same seed and number of processes).
    rng_state=dict(type='RNGStateCheckpointHook'))
