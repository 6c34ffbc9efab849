"""Make mmengine checkpoints loadable under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. mmengine
0.10.7 stores its message hub in every checkpoint (``meta.message_hub``),
which pickles :class:`mmengine.logging.HistoryBuffer` objects, numpy arrays and
scalars, and, through the buffers' statistics table, ``getattr(HistoryBuffer,
'mean')``-style references. None of those are on torch's allowlist, so resume,
``load_from``, ``init_model`` and ``mim test`` fail with ``UnpicklingError``.

Instead of switching weights-only loading off, this module allowlists exactly
the objects mmengine writes. ``builtins.getattr`` in particular is *not*
allowlisted as such: the name is bound to :func:`history_buffer_getattr`, which
only resolves the statistics methods registered on ``HistoryBuffer`` and
rejects every other attribute access.
"""
import pickle
from typing import Any

import numpy as np
import torch

# HistoryBuffer fills its statistics table with these on first use only.
_BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_getattr(owner: Any, name: str) -> Any:
    """The only ``getattr`` a weights-only checkpoint may perform.

    Args:
        owner: The object whose attribute the pickle asks for.
        name: The attribute name.

    Returns:
        The statistics method ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For anything other than a statistics method
            registered on :class:`mmengine.logging.HistoryBuffer`.
    """
    from mmengine.logging import HistoryBuffer
    allowed = _BUILTIN_STATISTICS | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({owner!r}, {name!r}) in a weights-only checkpoint: '
        'm3plugins only allows HistoryBuffer statistics methods.')


def _numpy_globals() -> list:
    """Numpy objects that mmengine's message hub pickles, by their paths."""
    multiarray = getattr(np, '_core', None)
    multiarray = (multiarray.multiarray
                  if multiarray is not None else np.core.multiarray)
    module = multiarray.__name__  # numpy._core.multiarray or numpy.core...
    entries = [
        np.ndarray,
        np.dtype,
        (multiarray._reconstruct, f'{module}._reconstruct'),
        (multiarray.scalar, f'{module}.scalar'),
    ]
    # numpy >= 1.25 pickles dtype instances through their classes.
    dtype_classes = getattr(np, 'dtypes', None)
    if dtype_classes is not None:
        for code in ('b1', 'u1', 'i1', 'i2', 'i4', 'i8', 'u2', 'u4', 'u8',
                     'f2', 'f4', 'f8'):
            cls = type(np.dtype(code))
            entries.append((cls, f'numpy.dtypes.{cls.__name__}'))
    return entries


def allow_mmengine_checkpoints() -> None:
    """Allowlist what mmengine checkpoints contain for weights-only loading.

    Idempotent. Has no effect on torch versions without
    ``torch.serialization.add_safe_globals`` (torch < 2.4), which do not
    default to weights-only loading either.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    from mmengine.logging import HistoryBuffer
    add_safe_globals([
        HistoryBuffer,
        (history_buffer_getattr, 'builtins.getattr'),
        *_numpy_globals(),
    ])
