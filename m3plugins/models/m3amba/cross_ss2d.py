"""Cross-SS2D: M3amba's two-stream coupled 2-D selective scan.

Channels-last inputs and outputs.
"""

import torch.nn as nn
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
from .ss2d import SS2DStem, check_channels_last


@MODELS.register_module()
class CrossSS2D(nn.Module):
    """Cross-SS2D of M3amba: a stream ``x`` scanned with a guide stream ``g``.

    Cao et al., "M3amba", arXiv 2503.06446 (official code kaka-Cao/M3amba,
    ``net/net_vmamba_v4.py``); SS2D from VMamba, arXiv 2401.10166. Coupling:

    * shared by both inputs: ``in_proj``, depthwise conv, ``out_norm``,
      ``out_proj`` (one :class:`SS2DStem`);
    * separate per input: ``x_proj``, ``dt_proj`` weight and bias, ``A_log``,
      ``D`` (``scan_params_x`` and ``scan_params_guide``);
    * both scans use ``A = (A_x + A_g) / 2``; the scan of ``x`` uses the ``B``
      computed from ``g`` and its own ``u``, ``delta``, ``C``, ``D``; the scan
      of ``g`` uses the ``B`` computed from ``x``.

    The official model discards the guide's scan, so by default it is not
    computed (``compute_guide_scan=False``, half the scan cost, identical
    output for ``x``). The guide's ``dt_proj`` (weight, bias) and ``D`` then
    cannot reach any loss: they are frozen (``requires_grad=False``), so that
    DDP runs with ``find_unused_parameters=False``, and stay in the
    state_dict under the official layout. Its ``x_proj`` (through ``B``) and
    ``A_log`` (through the averaged ``A``) train.

    Args:
        d_model (int): Channels ``C`` of both inputs. Default: 96
            (VMamba's SS2D default).
        compute_guide_scan (bool): Also compute and return the guide's output.
        d_state, expand, dt_rank, d_conv, dt_min, dt_max, dt_init_floor,
        dt_init, dt_scale, bias, conv_bias, dropout, scan_backend:
            as in :class:`SS2D`.

    Shape:
        forward: ``x``, ``guide``: ``(B, H, W, d_model)`` -> ``(B, H, W,
        d_model)``, or a tuple ``(out_x, out_guide)`` with
        ``compute_guide_scan=True``.
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
                 scan_backend: str = 'auto',
                 compute_guide_scan: bool = False):
        super().__init__()
        if scan_backend not in SCAN_BACKENDS:
            raise ValueError(f'scan_backend must be one of {SCAN_BACKENDS}, '
                             f'got {scan_backend!r}')
        self.d_model = d_model
        self.d_inner = int(expand * d_model)
        self.scan_backend = scan_backend
        self.compute_guide_scan = compute_guide_scan
        self.stem = SS2DStem(d_model, self.d_inner, d_conv, bias, conv_bias,
                             dropout)
        rank = resolve_dt_rank(dt_rank, d_model)
        param_args = (self.d_inner, d_state, rank, NUM_DIRECTIONS, dt_min,
                      dt_max, dt_init, dt_scale, dt_init_floor)
        self.scan_params_x = DirectionalScanParams(*param_args)
        self.scan_params_guide = DirectionalScanParams(*param_args)
        if not compute_guide_scan:
            for unused in (self.scan_params_guide.dt_projs_weight,
                           self.scan_params_guide.dt_projs_bias,
                           self.scan_params_guide.Ds):
                unused.requires_grad_(False)

    def _scan(self, xs: Tensor, delta: Tensor, A: Tensor, Bs: Tensor,
              Cs: Tensor, params: DirectionalScanParams, H: int,
              W: int) -> Tensor:
        batch = xs.shape[0]
        ys = selective_scan(
            xs.reshape(batch, -1, H * W), delta, A, Bs, Cs, params.D,
            delta_bias=params.delta_bias,
            delta_softplus=True, backend=self.scan_backend)
        return cross_merge(ys.view(batch, NUM_DIRECTIONS, -1, H * W), H, W)

    def forward(self, x: Tensor,
                guide: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Scan ``x`` coupled with ``guide`` (both (B, H, W, d_model))."""
        check_channels_last(x, self.d_model, 'x')
        check_channels_last(guide, self.d_model, 'guide')
        if guide.shape != x.shape:
            raise ValueError(f'x {tuple(x.shape)} and guide '
                             f'{tuple(guide.shape)} must have the same shape')
        H, W = x.shape[1:3]
        feats_x, z_x = self.stem.encode(x)
        feats_g, z_g = self.stem.encode(guide)
        xs_x, xs_g = cross_scan(feats_x), cross_scan(feats_g)
        px, pg = self.scan_params_x, self.scan_params_guide
        delta_x, B_x, C_x = px.project(xs_x)
        delta_g, B_g, C_g = pg.project(xs_g)
        A = (px.A + pg.A) / 2

        out_x = self.stem.decode(
            self._scan(xs_x, delta_x, A, B_g, C_x, px, H, W), z_x)
        if not self.compute_guide_scan:
            return out_x
        out_g = self.stem.decode(
            self._scan(xs_g, delta_g, A, B_x, C_g, pg, H, W), z_g)
        return out_x, out_g
