"""SS2D: VMamba's 2-D selective-scan token mixer (channels-last)."""

import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from m3plugins.ops import (
    NUM_DIRECTIONS,
    SCAN_BACKENDS,
    cross_merge,
    cross_scan,
    selective_scan,
)

from .directional_scan_params import DirectionalScanParams, resolve_dt_rank


class SS2DStem(nn.Module):
    """The parts of SS2D that act on the map before and after the scan.

    ``in_proj`` (``d_model -> 2 * d_inner``, split into ``x`` and the gate
    ``z``), depthwise ``d_conv x d_conv`` convolution + SiLU on ``x``,
    ``out_norm`` (LayerNorm over ``d_inner``), gating by ``SiLU(z)``,
    ``out_proj`` and dropout. :class:`CrossSS2D` shares one stem between its
    two input streams.
    """

    def __init__(self, d_model: int, d_inner: int, d_conv: int, bias: bool,
                 conv_bias: bool, dropout: float):
        super().__init__()
        if d_conv < 1 or d_conv % 2 == 0:
            raise ValueError('d_conv must be a positive odd int (same '
                             f'padding), got {d_conv}')
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=bias)
        self.conv2d = nn.Conv2d(d_inner, d_inner, d_conv, padding=d_conv // 2,
                                groups=d_inner, bias=conv_bias)
        self.act = nn.SiLU()
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def encode(self, x: Tensor):
        """Split ``(B, H, W, d_model)`` into features and gate.

        Returns conv features ``(B, d_inner, H, W)`` and the gate
        ``(B, H, W, d_inner)``.
        """
        x, z = self.in_proj(x).chunk(2, dim=-1)
        x = self.act(self.conv2d(x.permute(0, 3, 1, 2).contiguous()))
        return x, z

    def decode(self, y: Tensor, z: Tensor) -> Tensor:
        """Gate and project the merged scan output.

        ``(B, d_inner, H*W)`` and the gate -> ``(B, H, W, d_model)``.
        """
        batch, H, W, _ = z.shape
        y = y.transpose(1, 2).reshape(batch, H, W, -1)
        y = self.out_norm(y) * F.silu(z)
        return self.dropout(self.out_proj(y))


def check_channels_last(x: Tensor, d_model: int, name: str = 'x') -> None:
    """Raise ValueError unless ``x`` is (B, H, W, d_model)."""
    if x.dim() != 4 or x.shape[-1] != d_model:
        raise ValueError(f'{name} must be channels-last (B, H, W, {d_model}), '
                         f'got {tuple(x.shape)}')


@MODELS.register_module()
class SS2D(nn.Module):
    """2-D selective scan (SS2D) of VMamba, channels-last.

    Liu et al., "VMamba: Visual State Space Model", arXiv 2401.10166.
    ``in_proj -> depthwise conv + SiLU -> cross-scan (4 directions) ->
    selective scan (one group of B/C per direction) -> cross-merge ->
    LayerNorm -> * SiLU(z) -> out_proj``.

    Args:
        d_model (int): Input/output channels ``C``. Default: 96 (VMamba's
            SS2D default).
        d_state (int): SSM state size ``N``. Default 16.
        expand (float): ``d_inner = int(expand * d_model)``. Default 2.
        dt_rank (int | str): Rank of the step-size projection; ``'auto'`` is
            ``ceil(d_model / 16)``.
        d_conv (int): Depthwise conv kernel (odd). Default 3.
        dt_min (float): Lower end of the initial step size. Default 1e-3.
        dt_max (float): Upper end of the initial step size. Default 1e-1.
        dt_init_floor (float): Floor of the initial step size. Default 1e-4.
        dt_init (str): ``'random'`` or ``'constant'`` ``dt_proj`` weight init.
        dt_scale (float): Scale of the ``dt_proj`` weight init. Default 1.
        bias (bool): Bias in ``in_proj``/``out_proj``. Default False (VMamba).
        conv_bias (bool): Bias in the depthwise conv. Default True (VMamba).
        dropout (float): Dropout after ``out_proj``. Default 0.
        scan_backend (str): Backend of :func:`m3plugins.ops.selective_scan`
            (``'auto'``, ``'mamba_ssm'``, ``'torch'``, ``'reference'``).

    Shape:
        forward: ``(B, H, W, d_model)`` -> ``(B, H, W, d_model)``; any
            ``H x W``.
    """

    def __init__(self,
                 d_model: int = 96,
                 d_state: int = 16,
                 expand: float = 2,
                 dt_rank: int | str = 'auto',
                 d_conv: int = 3,
                 dt_min: float = 1e-3,
                 dt_max: float = 1e-1,
                 dt_init_floor: float = 1e-4,
                 dt_init: str = 'random',
                 dt_scale: float = 1.0,
                 bias: bool = False,
                 conv_bias: bool = True,
                 dropout: float = 0.,
                 scan_backend: str = 'auto'):
        super().__init__()
        if scan_backend not in SCAN_BACKENDS:
            raise ValueError(f'scan_backend must be one of {SCAN_BACKENDS}, '
                             f'got {scan_backend!r}')
        self.d_model = d_model
        self.d_inner = int(expand * d_model)
        self.scan_backend = scan_backend
        self.stem = SS2DStem(d_model, self.d_inner, d_conv, bias, conv_bias,
                             dropout)
        self.scan_params = DirectionalScanParams(
            self.d_inner, d_state, resolve_dt_rank(dt_rank, d_model),
            NUM_DIRECTIONS, dt_min, dt_max, dt_init, dt_scale, dt_init_floor)

    def scan(self, x: Tensor) -> Tensor:
        """Cross-scan, selective scan, cross-merge.

        Args:
            x (Tensor): ``(B, d_inner, H, W)``.

        Returns:
            Tensor: ``(B, d_inner, H * W)``, row-major.
        """
        batch, _, H, W = x.shape
        xs = cross_scan(x)
        params = self.scan_params
        delta, Bs, Cs = params.project(xs)
        ys = selective_scan(
            xs.reshape(batch, -1, H * W), delta, params.A, Bs, Cs,
            params.D, delta_bias=params.delta_bias,
            delta_softplus=True, backend=self.scan_backend)
        return cross_merge(ys.view(batch, NUM_DIRECTIONS, -1, H * W), H, W)

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, d_model) -> (B, H, W, d_model)."""
        check_channels_last(x, self.d_model)
        feats, z = self.stem.encode(x)
        return self.stem.decode(self.scan(feats), z)
