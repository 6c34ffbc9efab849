"""Whether a computation will be differentiated, to pick its inference path.

Several layers (the selective scan, SpectralMamba's GSSM, piece scan and S6
blocks) have a cheaper forward-only path: in place, chunked for the cache,
or without saved tensors. They take it exactly when no gradient can flow.
"""

import torch
from torch import Tensor, nn


def needs_grad(*tensors: Tensor | None,
               module: nn.Module | None = None) -> bool:
    """True if autograd is on and a tensor or a parameter requires grad.

    Args:
        *tensors: Inputs of the computation; None entries are skipped.
        module: Module whose parameters take part, if any.

    Returns:
        bool: False under ``torch.no_grad()`` / inference mode, or when
        nothing involved requires a gradient.
    """
    if not torch.is_grad_enabled():
        return False
    if any(t is not None and t.requires_grad for t in tensors):
        return True
    return module is not None and any(
        p.requires_grad for p in module.parameters())
