"""Fixes that make the pinned host stack work out of the box.

Applied once, on ``import m3plugins``, before anything imports ``mmseg``.
"""
from .checkpoint import allow_mmengine_checkpoints, history_buffer_getattr
from .checkpoint_loading import (
    CheckpointModelMismatchError,
    NotACheckpointError,
    install_checkpoint_loading_checks,
)
from .checkpoint_saving import install_atomic_local_backend_writes
from .cross_entropy_class_weight import (
    install_class_weighted_cross_entropy_fix,
)
from .mmcv_ops import (
    MissingCompiledOpError,
    install_mmcv_ops_fallback,
    mmcv_has_compiled_ops,
)
from .optimizer_log import install_frozen_parameter_log_summary

__all__ = [
    'apply_compat_patches', 'allow_mmengine_checkpoints',
    'history_buffer_getattr', 'install_mmcv_ops_fallback',
    'mmcv_has_compiled_ops', 'MissingCompiledOpError',
    'install_class_weighted_cross_entropy_fix',
    'install_checkpoint_loading_checks', 'install_atomic_local_backend_writes',
    'NotACheckpointError', 'CheckpointModelMismatchError',
    'install_frozen_parameter_log_summary'
]


def apply_compat_patches() -> None:
    """Install the compatibility fixes the pinned host stack needs.

    These are the mmcv-lite ``mmcv.ops`` stand-in, the checkpoint allowlist,
    clear checkpoint loading errors, atomic local checkpoint writes, the CPU
    fallback of mmengine's distributed launchers, one log line for all
    frozen parameters of an optimizer build and, where the host needs it,
    the class-weighted cross entropy fix.

    Raises:
        ImportError: If no ``mmcv`` is installed at all, naming both ways to
            get one.
    """
    try:
        import mmcv  # noqa: F401
    except ImportError as err:
        raise ImportError(
            'm3plugins needs mmcv. On CPU machines install the lite build '
            '(`pip install "m3plugins[lite]"`, i.e. mmcv-lite==2.1.0); on GPU '
            'machines full mmcv 2.0-2.1 (`mim install "mmcv>=2.0.0,<2.2.0"`).'
        ) from err
    install_mmcv_ops_fallback()
    allow_mmengine_checkpoints()
    install_checkpoint_loading_checks()
    install_atomic_local_backend_writes()
    from .cpu_distributed import enable_distributed_without_gpu
    enable_distributed_without_gpu()
    install_frozen_parameter_log_summary()
    install_class_weighted_cross_entropy_fix()
