"""The S6 parameter initialisation shared by SpectralMamba and M3amba.

Mamba's (Gu & Dao, arXiv 2312.00752; official code state-spaces/mamba,
``mamba_simple.py``) and VMamba's (``mamba_init``) initialisation of the
selective state-space parameters, written once:

* ``A_log = log(1..N)`` for every channel, so ``A = -exp(A_log) =
  -(1..N)`` (:func:`s6_a_log`);
* ``D = 1`` (:func:`s6_skip`);
* the ``delta`` bias is the inverse softplus of ``dt ~ exp(U[log dt_min,
  log dt_max])`` clamped below at ``dt_floor``, so that
  ``softplus(bias)`` starts in ``[dt_min, dt_max]`` (:func:`s6_dt_bias`).

Neither ``A_log`` nor ``D`` should be weight-decayed (Mamba's convention);
the optimizer configs exempt them by name (``paramwise_cfg.custom_keys``),
as mmengine's optimizer constructors read no flag on the parameter.
"""
import math

import torch
from torch import Tensor

__all__ = ['s6_a_log', 's6_skip', 's6_dt_bias']


def s6_a_log(channels: int, state_dims: int) -> Tensor:
    """``log(1..N)`` for each of ``channels``: ``A_log: r(channels N)``."""
    a = torch.arange(1, state_dims + 1, dtype=torch.float32)
    return torch.log(a).repeat(channels, 1)


def s6_skip(channels: int) -> Tensor:
    """The skip weights ``D = 1``: ``r(channels)``."""
    return torch.ones(channels)


def s6_dt_bias(shape: tuple[int, ...] | int, dt_min: float, dt_max: float,
               dt_floor: float) -> Tensor:
    """The ``delta`` bias whose softplus starts log-uniform in the range.

    Draws from torch's global generator (``torch.rand(shape)``), as the
    official code does at the same point.

    Args:
        shape: Shape of the bias (``(D,)``, or ``(K, D)`` for K directions).
        dt_min: Lower end of the initial step size, > 0.
        dt_max: Upper end of the initial step size, >= ``dt_min``.
        dt_floor: Minimum initial step size.

    Returns:
        Tensor: ``bias`` with ``softplus(bias) = dt``.
    """
    dt = torch.exp(
        torch.rand(shape) * (math.log(dt_max) - math.log(dt_min)) +
        math.log(dt_min)).clamp(min=dt_floor)
    return dt + torch.log(-torch.expm1(-dt))
