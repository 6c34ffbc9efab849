"""A Mamba (S6) block over short token sequences, optionally bidirectional.

Used by SpectralMamba (Yao et al., arXiv 2404.08489) to scan the sequence of
spectral pieces of every pixel; the block itself follows Mamba (Gu & Dao,
arXiv 2312.00752): every scan parameter (delta, B, C) depends on the input.
"""
import math

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from m3plugins.models.s6_initialisation import (
    s6_a_log,
    s6_dt_bias,
    s6_skip,
)
from m3plugins.ops import SCAN_BACKENDS, selective_scan
from m3plugins.utils.grad_mode import needs_grad


def causal_depthwise_conv(x: Tensor, conv: nn.Conv1d,
                          channels_last: bool = False) -> Tensor:
    """Mamba's causal depthwise convolution as shifted multiply-adds.

    Equals ``conv(x)[..., :L]`` for a depthwise ``conv`` with padding
    ``k - 1`` (its weights and bias), computed as ``k`` fused multiply-adds
    of time-shifted views: on many short sequences (SpectralMamba: pixels x
    a few pieces) this avoids oneDNN's depthwise Conv1d, which is slow on
    CPU for such shapes, forward and backward. Works under autograd.

    Args:
        x: ``(N, E, L)``, or ``(N, L, E)`` with ``channels_last=True``.
        conv: Depthwise ``nn.Conv1d(E, E, k, groups=E)``.
        channels_last: Layout of ``x`` (and of the result).

    Returns:
        Tensor: Same shape and layout as ``x``.
    """
    weight = conv.weight[:, 0]                            # (E, k)
    k = weight.shape[1]
    if not channels_last:
        weight = weight[:, :, None]                       # (E, k, 1)
    length = x.shape[1 if channels_last else 2]

    def shifted(t: Tensor, start: int, stop: int) -> Tensor:
        return t[:, start:stop] if channels_last else t[..., start:stop]

    out = x * weight[:, k - 1]
    if conv.bias is not None:
        out = out + (conv.bias if channels_last else conv.bias[:, None])
    for lag in range(1, min(k, length)):
        shifted(out, lag, length).addcmul_(
            shifted(x, 0, length - lag), weight[:, k - 1 - lag])
    return out


class _ScanDirection(nn.Module):
    """The input-dependent S6 parameters of one scan direction.

    Holds Mamba's causal depthwise convolution, ``x_proj`` (giving dt, B, C),
    ``dt_proj`` (with the dt bias), ``A_log`` and ``D``, initialised as in
    Mamba: ``A_log = log(1..N)``, ``D = 1``, ``dt_proj.weight`` uniform in
    ``+-dt_rank**-0.5``, and ``softplus(dt_proj.bias)`` log-uniform in
    ``[dt_min, dt_max]`` (floored at ``dt_floor``)
    (:mod:`m3plugins.models.s6_initialisation`).
    """

    def __init__(self, inner_dims: int, state_dims: int, dt_rank: int,
                 conv_kernel_size: int, dt_min: float, dt_max: float,
                 dt_floor: float):
        super().__init__()
        self.state_dims = state_dims
        self.dt_rank = dt_rank
        self.conv = nn.Conv1d(
            inner_dims,
            inner_dims,
            conv_kernel_size,
            groups=inner_dims,
            padding=conv_kernel_size - 1)
        self.x_proj = nn.Linear(
            inner_dims, dt_rank + 2 * state_dims, bias=False)
        self.dt_proj = nn.Linear(dt_rank, inner_dims, bias=True)
        nn.init.uniform_(self.dt_proj.weight, -dt_rank**-0.5, dt_rank**-0.5)
        with torch.no_grad():
            self.dt_proj.bias.copy_(
                s6_dt_bias(inner_dims, dt_min, dt_max, dt_floor))
        self.A_log = nn.Parameter(s6_a_log(inner_dims, state_dims))
        self.D = nn.Parameter(s6_skip(inner_dims))

    def forward_channels_last(self, x: Tensor, z: Tensor,
                              backend: str) -> Tensor:
        """Inference form of :meth:`forward` on (N, L, E) inputs -> (N, L, E).

        Same arithmetic (up to float rounding) without layout changes: the
        scan gets ``(N, E, L)`` views of channels-last tensors, which its
        no-grad path reads directly.
        """
        xc = F.silu(causal_depthwise_conv(x, self.conv, channels_last=True),
                    inplace=True)
        params = self.x_proj(xc)  # (N, L, dt_rank + 2 S)
        dt, B, C = torch.split(
            params, [self.dt_rank, self.state_dims, self.state_dims], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight)
        y = selective_scan(
            xc.transpose(1, 2),
            delta.transpose(1, 2),
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2),
            C.transpose(1, 2),
            D=self.D.float(),
            z=z.transpose(1, 2),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            backend=backend)
        return y.transpose(1, 2)

    def forward(self, x: Tensor, z: Tensor, backend: str) -> Tensor:
        """Scan (N, E, L) inputs front to back; gate with silu(z)."""
        x = F.silu(causal_depthwise_conv(x, self.conv))
        params = self.x_proj(x.transpose(1, 2))  # (N, L, dt_rank + 2 S)
        dt, B, C = torch.split(
            params, [self.dt_rank, self.state_dims, self.state_dims], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight).transpose(1, 2)
        return selective_scan(
            x,
            delta,
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2).contiguous(),
            C.transpose(1, 2).contiguous(),
            D=self.D.float(),
            z=z,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            backend=backend)


@MODELS.register_module()
class SpectralS6Block(BaseModule):
    """Pre-norm residual Mamba block over (N, L, C) token sequences.

    ``y = x + out_proj(scan(LN(x)))`` where ``in_proj`` splits ``LN(x)`` into
    the scanned stream and the gate ``z`` (Mamba's block). With
    ``bidirectional=True`` (our default, since a piece sequence has no
    natural direction) the stream is also scanned back to front with its own
    convolution, ``x_proj``, ``dt_proj``, ``A_log`` and ``D`` (sharing
    ``in_proj`` / ``out_proj``, as Vision Mamba does), and both directions
    are averaged.

    Args:
        embed_dims (int): Token width C. Default: 32.
        state_dims (int): SSM state size N. Default: 4 (Mamba uses 16 on
            long sequences; the cost of the scan grows with E * N, and a piece
            sequence is only about 6 long).
        expand (int): Inner width ``E = expand * embed_dims``. Default: 1
            (Mamba: 2; kept small for a tiny per-pixel model).
        dt_rank (int, optional): Rank of the delta projection; default
            ``ceil(embed_dims / 16)`` as in Mamba.
        conv_kernel_size (int): Causal depthwise convolution along the
            sequence. Default: 3 (Mamba uses 4 on long sequences; a piece
            sequence is only about 6 long).
        bidirectional (bool): Also scan back to front. Default: True.
        dt_min (float): Smallest initial delta. Default: 1e-3.
        dt_max (float): Largest initial delta. Default: 1e-1.
        dt_floor (float): Floor of the initial delta. Default: 1e-4.
        scan_backend (str): Backend of :func:`m3plugins.ops.selective_scan`.
            Default: 'auto'.
        init_cfg (dict, optional): mmengine initialisation config.

    Shapes:
        - input: (N, L, C)
        - output: (N, L, C)
    """

    def __init__(self,
                 embed_dims: int = 32,
                 state_dims: int = 4,
                 expand: int = 1,
                 dt_rank=None,
                 conv_kernel_size: int = 3,
                 bidirectional: bool = True,
                 dt_min: float = 1e-3,
                 dt_max: float = 1e-1,
                 dt_floor: float = 1e-4,
                 scan_backend: str = 'auto',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('embed_dims', embed_dims),
                            ('state_dims', state_dims), ('expand', expand),
                            ('conv_kernel_size', conv_kernel_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value}')
        if not 0 < dt_min <= dt_max:
            raise ValueError(
                f'need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}')
        if scan_backend not in SCAN_BACKENDS:
            raise ValueError(f'scan_backend must be one of {SCAN_BACKENDS}, '
                             f'got {scan_backend!r}')
        dt_rank = math.ceil(embed_dims / 16) if dt_rank is None else dt_rank
        if dt_rank < 1:
            raise ValueError(f'dt_rank must be >= 1, got {dt_rank}')
        inner_dims = expand * embed_dims
        self.embed_dims = embed_dims
        self.bidirectional = bidirectional
        self.scan_backend = scan_backend
        self.norm = nn.LayerNorm(embed_dims)
        self.in_proj = nn.Linear(embed_dims, 2 * inner_dims, bias=False)
        args = (inner_dims, state_dims, dt_rank, conv_kernel_size, dt_min,
                dt_max, dt_floor)
        self.forward_scan = _ScanDirection(*args)
        self.backward_scan = _ScanDirection(*args) if bidirectional else None
        self.out_proj = nn.Linear(inner_dims, embed_dims, bias=False)

    def forward(self, tokens: Tensor) -> Tensor:
        """(N, L, C) -> (N, L, C)."""
        if tokens.dim() != 3 or tokens.shape[-1] != self.embed_dims:
            raise ValueError(f'Expected (N, L, {self.embed_dims}), got '
                             f'{tuple(tokens.shape)}')
        if not needs_grad(tokens, module=self):
            return self._forward_inference(tokens)
        x, z = self.in_proj(self.norm(tokens)).transpose(1, 2).chunk(2, dim=1)
        y = self.forward_scan(x, z, self.scan_backend)
        if self.backward_scan is not None:
            y_back = self.backward_scan(
                x.flip(-1), z.flip(-1), self.scan_backend)
            y = (y + y_back.flip(-1)) / 2
        return tokens + self.out_proj(y.transpose(1, 2))

    def _forward_inference(self, tokens: Tensor) -> Tensor:
        """:meth:`forward` without autograd, channels-last throughout."""
        x, z = self.in_proj(self.norm(tokens)).chunk(2, dim=-1)  # (N, L, E)
        y = self.forward_scan.forward_channels_last(x, z, self.scan_backend)
        if self.backward_scan is not None:
            y_back = self.backward_scan.forward_channels_last(
                _reverse_time(x), _reverse_time(z), self.scan_backend)
            length = y.shape[1]
            for t in range(length):         # y + y_back.flip(1), in place
                y[:, t].add_(y_back[:, length - 1 - t])
            y.div_(2)
        return tokens + self.out_proj(y)


def _reverse_time(x: Tensor) -> Tensor:
    """``x.flip(1)`` for (N, L, E) as L row copies.

    Cheaper than ``flip`` on CPU for short L (few, contiguous copies).
    """
    out = x.new_empty(x.shape)
    length = x.shape[1]
    for t in range(length):
        out[:, t] = x[:, length - 1 - t]
    return out
