"""mmengine's DDP wrapper for models on the CPU (gloo backend).

mmengine 0.10.7's ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]``
to ``DistributedDataParallel``, which torch refuses for a module on the CPU,
and torch's ``SyncBatchNorm`` has no CPU kernel (``aten::batch_norm_stats``
is CUDA-only). :class:`CPUDistributedDataParallel` is a registered model
wrapper (``model_wrapper_cfg=dict(type='CPUDistributedDataParallel')``, as
``configs/_base_/default_runtime.py`` declares) that handles both on the
CPU and is mmengine's ``MMDistributedDataParallel`` on GPUs. Starting the
process group without a GPU is the job of
:class:`~m3plugins.engine.M3PluginsRunner`.
"""
from typing import Any

import torch
from mmengine.dist import all_reduce_params
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS

__all__ = ['CPUDistributedDataParallel']


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper, usable for a model on the CPU (gloo backend).

    For a module on a GPU it is ``MMDistributedDataParallel``. Differences
    from :class:`mmengine.model.MMDistributedDataParallel`, both
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
