"""Per-direction selective-scan parameters of SS2D, VMamba initialisation.

VMamba (Liu et al., arXiv 2401.10166) gives each of the ``K`` scan directions
its own input-dependent projections (``x_proj`` -> ``dt, B, C``; ``dt_proj``)
and its own ``A_log`` and ``D``. This module owns exactly those parameters, so
that :class:`~m3plugins.models.m3amba.SS2D` holds one set and
:class:`~m3plugins.models.m3amba.CrossSS2D` one set per input stream.
"""
import math

import torch
import torch.nn as nn
from torch import Tensor

from ..s6_initialisation import s6_a_log, s6_dt_bias, s6_skip


def resolve_dt_rank(dt_rank: int | str, d_model: int) -> int:
    """``'auto'`` gives VMamba's ``ceil(d_model / 16)``; ints pass through."""
    if dt_rank == 'auto':
        return math.ceil(d_model / 16)
    if not isinstance(dt_rank, int) or dt_rank < 1:
        raise ValueError(
            f"dt_rank must be 'auto' or a positive int, got {dt_rank!r}")
    return dt_rank


def _at_least_fp32(t: Tensor) -> Tensor:
    return t.to(torch.promote_types(t.dtype, torch.float32))


class DirectionalScanParams(nn.Module):
    """Input-dependent ``delta, B, C`` and the ``A``/``D`` of K directions.

    Initialisation (VMamba / Mamba): ``A_log = log(1..N)`` for every channel
    (so ``A = -exp(A_log) = -(1..N)``), ``D = 1``, ``dt_proj`` weight uniform
    in ``+-dt_scale * dt_rank**-0.5`` (``dt_init='random'``) or that constant
    (``'constant'``), and ``dt_proj`` bias the inverse softplus of
    ``dt ~ exp(U[log dt_min, log dt_max])`` clamped below at ``dt_init_floor``,
    so that ``softplus(bias)`` starts in ``[dt_min, dt_max]``
    (:mod:`m3plugins.models.s6_initialisation`). ``x_proj`` uses
    ``nn.Linear``'s default uniform init, as in VMamba.

    Args:
        d_inner (int): Channels per direction.
        d_state (int): State size ``N``.
        dt_rank (int): Rank of the ``delta`` projection.
        num_directions (int): ``K``.
        dt_min (float): Lower end of the initial step size.
        dt_max (float): Upper end of the initial step size.
        dt_init (str): ``'random'`` or ``'constant'`` for the ``dt_proj``
            weight.
        dt_scale (float): Scale of the ``dt_proj`` weight init.
        dt_init_floor (float): Minimum initial step size.

    Shapes:
        ``x_proj_weight``: ``(K, dt_rank + 2N, d_inner)``;
        ``dt_projs_weight``: ``(K, d_inner, dt_rank)``;
        ``dt_projs_bias``: ``(K, d_inner)``; ``A_logs``: ``(K * d_inner, N)``;
        ``Ds``: ``(K * d_inner,)``.
    """

    def __init__(self,
                 d_inner: int,
                 d_state: int,
                 dt_rank: int,
                 num_directions: int = 4,
                 dt_min: float = 1e-3,
                 dt_max: float = 1e-1,
                 dt_init: str = 'random',
                 dt_scale: float = 1.0,
                 dt_init_floor: float = 1e-4):
        super().__init__()
        if not 0 < dt_min <= dt_max:
            raise ValueError(
                f'need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}')
        if dt_init not in ('random', 'constant'):
            raise ValueError(
                "dt_init must be 'random' or 'constant', "
                f"got {dt_init!r}")
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, dt_rank
        self.num_directions = num_directions
        K = num_directions

        x_proj = torch.empty(K, dt_rank + 2 * d_state, d_inner)
        for k in range(K):  # nn.Linear's default init, per direction
            nn.init.kaiming_uniform_(x_proj[k], a=math.sqrt(5))
        self.x_proj_weight = nn.Parameter(x_proj)

        std = dt_rank**-0.5 * dt_scale
        dt_weight = torch.empty(K, d_inner, dt_rank)
        if dt_init == 'constant':
            nn.init.constant_(dt_weight, std)
        else:
            nn.init.uniform_(dt_weight, -std, std)
        self.dt_projs_weight = nn.Parameter(dt_weight)

        self.dt_projs_bias = nn.Parameter(
            s6_dt_bias((K, d_inner), dt_min, dt_max, dt_init_floor))
        # Not weight-decayed (Mamba's convention): the optimizer config
        # exempts A_logs and Ds by name.
        self.A_logs = nn.Parameter(s6_a_log(K * d_inner, d_state))
        self.Ds = nn.Parameter(s6_skip(K * d_inner))

    @property
    def A(self) -> Tensor:
        """``-exp(A_logs)``, ``(K * d_inner, N)``, at least float32."""
        return -torch.exp(_at_least_fp32(self.A_logs))

    @property
    def D(self) -> Tensor:
        """Skip weights ``(K * d_inner,)``, at least float32."""
        return _at_least_fp32(self.Ds)

    @property
    def delta_bias(self) -> Tensor:
        """``dt_proj`` biases flattened to ``(K * d_inner,)``, >= float32."""
        return _at_least_fp32(self.dt_projs_bias).reshape(-1)

    def project(self, xs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Computes the input-dependent scan parameters.

        Args:
            xs (Tensor): Cross-scanned input, ``(B, K, d_inner, L)``.

        Returns:
            tuple: ``delta`` before bias/softplus ``(B, K * d_inner, L)``,
            ``B`` and ``C`` ``(B, K, N, L)`` (one group per direction).
        """
        batch, K, _, length = xs.shape
        x_dbl = torch.einsum('bkdl,kcd->bkcl', xs, self.x_proj_weight)
        dts, Bs, Cs = torch.split(
            x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=2)
        dts = torch.einsum('bkrl,kdr->bkdl', dts, self.dt_projs_weight)
        return dts.reshape(batch, -1, length), Bs, Cs

    def extra_repr(self) -> str:
        """Sizes in the module's repr."""
        return (f'd_inner={self.d_inner}, d_state={self.d_state}, '
                f'dt_rank={self.dt_rank}, '
                f'num_directions={self.num_directions}')
