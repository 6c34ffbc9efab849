"""Start mmengine's distributed launchers on machines with or without a GPU.

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device(local_rank)``
for every launcher and backend, and MMSeg's runtime asks for ``nccl``, so
``torchrun ... --launcher pytorch`` (or Slurm, MPI) fails on every rank of a
machine without a GPU with "Found no NVIDIA driver on your system".
:func:`init_dist_on_any_device` runs mmengine's own launcher code there with
the ``gloo`` backend and without that one call; with a usable GPU it is
mmengine's ``init_dist`` unchanged. Used by
:class:`~m3plugins.engine.M3PluginsRunner` and ``tools/infer.py``.
"""
import contextlib
import logging
from collections.abc import Iterator

import torch
from mmengine.dist import init_dist
from mmengine.logging import print_log

__all__ = ['init_dist_on_any_device']


@contextlib.contextmanager
def _cuda_set_device_skipped() -> Iterator[None]:
    """Make ``torch.cuda.set_device`` a no-op for the duration of a call.

    Used only while a launcher starts the process group on a machine
    without a usable GPU, where the call can only fail.
    """
    original = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = original


def init_dist_on_any_device(launcher: str, **dist_cfg) -> str:
    """Start the process group: mmengine's launcher, gloo without a GPU.

    Args:
        launcher: ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        **dist_cfg: ``init_dist`` arguments (``backend``, ``timeout``, ...);
            ``backend='nccl'`` (or none) becomes ``'gloo'`` without a GPU.

    Returns:
        str: The backend used.
    """
    if torch.cuda.is_available():
        dist_cfg.setdefault('backend', 'nccl')
        init_dist(launcher, **dist_cfg)
        return dist_cfg['backend']
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    with _cuda_set_device_skipped():
        init_dist(launcher, **dist_cfg)
    print_log(
        f'No usable GPU: distributed run ({launcher} launcher) on the CPU '
        f'with the {dist_cfg["backend"]} backend.',
        logger='current', level=logging.INFO)
    return dist_cfg['backend']
