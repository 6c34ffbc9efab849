"""Host-stack warnings a user of the pinned stack cannot act on.

Each is listed in :data:`UNACTIONABLE` with the reason it is held back.
:func:`quiet_unactionable_warnings` holds them back inside a block (scoped
with ``warnings.catch_warnings``: every other warning, and every filter
outside the block, stays as it was). ``import m3plugins``, the tools and
:class:`~m3plugins.engine.M3PluginsRunner` use it; the runner's console
filter (:mod:`m3plugins.engine.console_output`) uses the same list.
``M3PLUGINS_FULL_CONSOLE=1`` shows them all.
"""
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ['UNACTIONABLE', 'FULL_CONSOLE_VARIABLE', 'full_console_requested',
           'quiet_unactionable_warnings']

#: Environment variable that keeps mmengine's full console output.
FULL_CONSOLE_VARIABLE = 'M3PLUGINS_FULL_CONSOLE'

#: Host-stack messages a user of the pinned stack cannot act on, each with
#: the reason it is held back from the console (the log file keeps them).
UNACTIONABLE = {
    r'pkg_resources is deprecated':
        'setuptools < 81 is pinned on purpose: mmengine and openmim need '
        'pkg_resources',
    r'Fail to import ``MultiScaleDeformableAttention``':
        'mmcv-lite has no compiled ops by design; using one raises a clear '
        'error when it is called',
    r'``build_loss`` would be deprecated soon':
        "MMSeg's own decode heads call it",
    r'The draw is False, it means that the hook for visualization':
        "MMSeg's hook says so on every training run; tools/test.py "
        '--show-dir turns drawing on',
    r'"FileClient" will be deprecated|"HardDiskBackend" is the alias':
        "MMSeg's visualisation hook builds the deprecated client",
    r'The prefix is not set in metric class':
        'mmengine asks every metric without a prefix',
}


def full_console_requested() -> bool:
    """Whether ``M3PLUGINS_FULL_CONSOLE`` asks for mmengine's output."""
    return os.environ.get(FULL_CONSOLE_VARIABLE, '') not in ('', '0')


@contextmanager
def quiet_unactionable_warnings() -> Iterator[None]:
    """Hold back :data:`UNACTIONABLE` Python warnings inside the block.

    Scoped with ``warnings.catch_warnings``: the filters are restored
    afterwards; every other warning is shown as usual.
    """
    with warnings.catch_warnings():
        if not full_console_requested():
            for pattern in UNACTIONABLE:
                warnings.filterwarnings('ignore', message=f'.*(?:{pattern})')
        yield
