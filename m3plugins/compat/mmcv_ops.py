"""Let MMSegmentation import on mmcv-lite, which ships no compiled ops.

mmsegmentation 1.2.2 imports ``mmcv.ops`` unguarded in four modules
(``utils/mask_classification.py``, ``models/utils/point_sample.py``,
``decode_heads/san_head.py``, ``losses/focal_loss.py``). With mmcv-lite,
``mmcv/ops/__init__.py`` fails on the missing ``mmcv._ext`` extension, so
``import mmseg.models`` fails and nothing of MMSeg can be used.

When (and only when) the compiled extension is missing, this module puts a
small stand-in for ``mmcv.ops`` into ``sys.modules``:

* ``point_sample`` and ``bilinear_grid_sample`` are mmcv's own pure-PyTorch
  functions, loaded from mmcv's ``ops/point_sample.py`` file directly.
* Every other name resolves to a placeholder class that raises a
  :class:`MissingCompiledOpError` naming the op and the fix as soon as it is
  called or instantiated, so configs that do not use compiled ops work and
  configs that do fail with a clear message instead of an import error.

With full mmcv installed the stand-in is never created.
"""
import importlib.util
import os.path as osp
import sys
import types

_INSTALL_HINT = (
    'It needs mmcv compiled with its C++/CUDA ops, but the installed mmcv '
    '(mmcv-lite) has none. Replace it with full mmcv: '
    '`pip uninstall -y mmcv-lite && mim install "mmcv>=2.0.0,<2.2.0"` '
    '(see the README section "GPU machines and full mmcv").')


class MissingCompiledOpError(RuntimeError):
    """Raised when code calls an mmcv op that mmcv-lite does not provide."""


def _placeholder_op(name: str) -> type:
    """Build a stand-in for ``mmcv.ops.<name>`` that fails when used.

    A class (rather than a function) so that ``isinstance`` checks and
    subclassing at import time keep working; calling it, as a function or a
    constructor, raises.
    """

    def _fail(*args, **kwargs):
        raise MissingCompiledOpError(f'mmcv.ops.{name} was called. '
                                     f'{_INSTALL_HINT}')

    return type(name, (), {
        '__new__': lambda cls, *a, **k: _fail(),
        '__doc__': f'Unavailable mmcv op {name!r} (mmcv-lite).',
        '__module__': 'mmcv.ops',
    })


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv carries its compiled extension."""
    return importlib.util.find_spec('mmcv._ext') is not None


def install_mmcv_ops_fallback() -> bool:
    """Register the ``mmcv.ops`` stand-in if mmcv lacks compiled ops.

    Returns:
        bool: True if the stand-in was installed (or already was), False when
        full mmcv is present and nothing was changed.
    """
    if 'mmcv.ops' in sys.modules:
        return getattr(sys.modules['mmcv.ops'], '__m3plugins_fallback__',
                       False)
    if mmcv_has_compiled_ops():
        return False

    import mmcv
    point_sample_file = osp.join(osp.dirname(mmcv.__file__), 'ops',
                                 'point_sample.py')
    spec = importlib.util.spec_from_file_location('mmcv.ops.point_sample',
                                                  point_sample_file)
    point_sample_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(point_sample_module)

    ops = types.ModuleType('mmcv.ops', __doc__)
    ops.__m3plugins_fallback__ = True
    ops.point_sample = point_sample_module.point_sample
    ops.bilinear_grid_sample = point_sample_module.bilinear_grid_sample

    def __getattr__(name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        op = _placeholder_op(name)
        setattr(ops, name, op)
        return op

    ops.__getattr__ = __getattr__
    sys.modules['mmcv.ops'] = ops
    sys.modules['mmcv.ops.point_sample'] = point_sample_module
    mmcv.ops = ops
    return True
