"""Let mmengine's distributed launchers run on machines without a GPU.

mmengine 0.10.7 assumes a CUDA device in two places of its distributed path:

* ``mmengine.dist.init_dist`` calls ``torch.cuda.set_device(local_rank)``
  whatever the backend, and MMSeg's runtime asks for the ``nccl`` backend, so
  ``torchrun ... tools/train.py CFG --launcher pytorch`` (or ``slurm``) fails
  on every rank with "Found no NVIDIA driver on your system";
* ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to
  ``DistributedDataParallel``, which torch refuses for a module on the CPU.

On a machine where ``torch.cuda.is_available()`` is False this module
switches ``nccl`` to ``gloo``, skips the ``set_device`` call and wraps the
model in :class:`CPUDistributedDataParallel`. With a usable GPU nothing
changes: the same commands run NCCL on the GPUs.

torch's ``SyncBatchNorm`` has no CPU kernel (``aten::batch_norm_stats`` is
CUDA-only). On the CPU, :class:`CPUDistributedDataParallel` therefore turns
``SyncBatchNorm`` layers back into ``BatchNorm`` (as mmengine does for a
single process) and, after every training step, averages the floating-point
buffers (running mean and variance) over the ranks, so that every rank keeps
the same model: the weights and statistics it validates with are exactly the
ones rank 0 writes into the checkpoint.
"""
import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from mmengine.dist import all_reduce_params
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS

#: Marks functions this module has already wrapped (patching is idempotent).
_PATCHED = '_m3plugins_cpu_distributed'


def _gpu_usable() -> bool:
    return torch.cuda.is_available()


@contextlib.contextmanager
def _cuda_set_device_skipped() -> Iterator[None]:
    """Makes ``torch.cuda.set_device`` a no-op for the duration of a call."""
    original = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = original


def _init_dist_without_gpu(init_dist: Callable) -> Callable:
    """Wraps ``mmengine.dist.init_dist`` to use gloo where no GPU is usable."""

    @functools.wraps(init_dist)
    def init_dist_cpu_aware(launcher: str,
                            backend: str = 'nccl',
                            init_backend: str = 'torch',
                            **kwargs: Any) -> None:
        if _gpu_usable():
            return init_dist(launcher, backend, init_backend, **kwargs)
        if backend == 'nccl':
            backend = 'gloo'
        with _cuda_set_device_skipped():
            init_dist(launcher, backend, init_backend, **kwargs)
        print_log(
            f'No usable GPU: distributed run ({launcher} launcher) on the CPU '
            f'with the {backend} backend.',
            logger='current',
            level=logging.INFO)

    setattr(init_dist_cpu_aware, _PATCHED, True)
    return init_dist_cpu_aware


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper for a model on the CPU (gloo backend).

    Differences from :class:`mmengine.model.MMDistributedDataParallel`, both
    only for a module whose parameters are on the CPU:

    * ``device_ids`` is dropped (torch accepts it for GPU modules only);
    * ``SyncBatchNorm`` layers become ``BatchNorm`` layers (torch has no CPU
      kernel for them) and, after every ``train_step``, the floating-point
      buffers are averaged over the ranks, so that the ranks never disagree
      about the running statistics.

    Args:
        module (nn.Module): The model.
        device_ids (list, optional): Ignored for CPU modules.
        **kwargs: Further ``DistributedDataParallel`` arguments.
    """

    def __init__(self, module: torch.nn.Module, device_ids=None,
                 **kwargs: Any) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        had_sync_bn = on_cpu and any(
            isinstance(m, torch.nn.SyncBatchNorm) for m in module.modules())
        if had_sync_bn:
            module = revert_sync_batchnorm(module)
        super().__init__(
            module=module,
            device_ids=None if on_cpu else device_ids,
            **kwargs)
        self.average_buffers = had_sync_bn

    def train_step(self, data, optim_wrapper):
        """DDP's training step, then the ranks' buffers averaged (CPU)."""
        log_vars = super().train_step(data, optim_wrapper)
        if self.average_buffers:
            buffers = [
                b for b in self.module.buffers() if b.is_floating_point()
            ]
            if buffers:
                all_reduce_params(buffers, op='mean')
        return log_vars


def _wrap_model_on_cpu(wrap_model: Callable) -> Callable:
    """Wraps ``Runner.wrap_model``: CPU models get the CPU DDP wrapper."""

    @functools.wraps(wrap_model)
    def wrap_model_cpu_aware(self, model_wrapper_cfg, model):
        if self.distributed and not _gpu_usable():
            cfg = dict(model_wrapper_cfg or {})
            if cfg.get('type',
                       'MMDistributedDataParallel') == \
                    'MMDistributedDataParallel':
                cfg['type'] = 'CPUDistributedDataParallel'
                # Runner's defaults for a config without model_wrapper_cfg.
                cfg.setdefault('broadcast_buffers', False)
                cfg.setdefault('find_unused_parameters',
                               self.cfg.get('find_unused_parameters', False))
                model_wrapper_cfg = cfg
        return wrap_model(self, model_wrapper_cfg, model)

    setattr(wrap_model_cpu_aware, _PATCHED, True)
    return wrap_model_cpu_aware


def enable_distributed_without_gpu() -> None:
    """Patch mmengine's launcher and model wrapping for CPU-only machines.

    Idempotent. The wrappers decide at call time: where a GPU is usable they
    call mmengine's originals unchanged.
    """
    import mmengine.dist as dist_pkg
    import mmengine.dist.utils as dist_utils
    import mmengine.runner.runner as runner_module

    if not getattr(dist_utils.init_dist, _PATCHED, False):
        patched = _init_dist_without_gpu(dist_utils.init_dist)
        dist_utils.init_dist = patched
        dist_pkg.init_dist = patched
        runner_module.init_dist = patched
    runner_cls = runner_module.Runner
    if not getattr(runner_cls.wrap_model, _PATCHED, False):
        runner_cls.wrap_model = _wrap_model_on_cpu(runner_cls.wrap_model)
