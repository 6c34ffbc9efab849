"""Runner, hooks and model wrapper; importing this module registers them.

Configs opt into them through MMSeg's own mechanisms, as
``configs/_base_/default_runtime.py`` does: ``runner_type``,
``default_hooks`` and ``model_wrapper_cfg``.
"""
from .checkpoint_checks import (
    CheckpointModelMismatchError,
    NotACheckpointError,
    check_state_dict_fits_model,
    load_local_checkpoint,
)
from .cpu_distributed_data_parallel import CPUDistributedDataParallel
from .data_contract_check_hook import DataContractCheckHook
from .frozen_weights_checkpoint_hook import FrozenWeightsCheckpointHook
from .hsi_class_map_hook import HSIClassMapHook
from .m3plugins_runner import M3PluginsRunner
from .modality_masking_hook import ModalityMaskingHook
from .rng_state_checkpoint_hook import RNGStateCheckpointHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .thread_tuning_hook import ThreadTuningHook

__all__ = [
    'CheckpointModelMismatchError', 'NotACheckpointError',
    'check_state_dict_fits_model', 'load_local_checkpoint',
    'CPUDistributedDataParallel', 'DataContractCheckHook',
    'FrozenWeightsCheckpointHook', 'HSIClassMapHook',
    'M3PluginsRunner', 'ModalityMaskingHook', 'RNGStateCheckpointHook',
    'SafeCheckpointHook', 'ThreadTuningHook'
]
