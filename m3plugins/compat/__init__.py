"""The two changes to the host stack that ``import m3plugins`` makes.

Everything else the package offers is opt-in through MMSeg's registries
(``runner_type``, ``default_hooks``, loss types, ``model_wrapper_cfg``).
These two cannot be done that way:

* :func:`install_mmcv_ops_fallback`: with mmcv-lite (no compiled ops),
  ``import mmseg.models`` fails on ``mmcv.ops``, before any registry
  exists. Only when the compiled extension is missing, a stand-in
  ``mmcv.ops`` module is put into ``sys.modules``.
* :func:`allow_mmengine_checkpoints`: torch >= 2.6 loads weights-only by
  default and cannot read the objects mmengine writes into every checkpoint
  (``HistoryBuffer``, numpy scalars). They are added to torch's weights-only
  allowlist (``torch.serialization.add_safe_globals``), which is how torch
  asks to be extended; nothing is unpickled that was refused before except
  those objects.

Applied once, on ``import m3plugins``, before anything imports ``mmseg``.
"""
from .checkpoint import allow_mmengine_checkpoints, history_buffer_getattr
from .mmcv_ops import (
    MissingCompiledOpError,
    install_mmcv_ops_fallback,
    mmcv_has_compiled_ops,
)

__all__ = [
    'apply_compat_patches', 'allow_mmengine_checkpoints',
    'history_buffer_getattr', 'install_mmcv_ops_fallback',
    'mmcv_has_compiled_ops', 'MissingCompiledOpError'
]


def apply_compat_patches() -> None:
    """Install the mmcv-lite stand-in and the checkpoint allowlist.

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
