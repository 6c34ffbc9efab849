"""Residual VMamba-style blocks around SS2D and Cross-SS2D (channels-last)."""

import torch.nn as nn
from mmseg.registry import MODELS
from timm.layers import DropPath, Mlp
from torch import Tensor
from torch.nn.init import ones_, trunc_normal_, zeros_

from .cross_ss2d import CrossSS2D
from .ss2d import SS2D

#: LayerNorm epsilon of the official M3amba (``norm_layer="LN"`` builds plain
#: ``nn.LayerNorm``, whose default is 1e-5; kaka-Cao/M3amba,
#: net/net_vmamba_v4.py, ``VSSM._NORMLAYERS``).
M3AMBA_NORM_EPS = 1e-5
#: The former default of these blocks, kept as an option. (VMamba's own
#: ``VSSM`` in MzeroMiko/VMamba, classification/models/vmamba.py at f0c4e24,
#: also builds plain ``nn.LayerNorm`` for ``norm_layer="LN"``.)
LEGACY_NORM_EPS = 1e-6


def init_vmamba_linear_and_norm(module: nn.Module, std: float = 0.02) -> None:
    """VMamba's ``_init_weights`` for one module (use with ``Module.apply``).

    Every ``nn.Linear`` gets ``trunc_normal(std)`` weights (truncated at
    +-2, absolute, as ``timm.trunc_normal_``) and zero bias; every
    ``nn.LayerNorm`` weight 1 and bias 0. Anything else is left alone.

    Official code (kaka-Cao/M3amba, net/net_vmamba_v4.py, read at commit
    5efde13; the same function as ``VSSM._init_weights`` in
    MzeroMiko/VMamba, classification/models/vmamba.py at f0c4e24):
    ``VSSM.__init__`` ends with
    ``self.apply(self._init_weights)``. The per-direction ``x_proj`` and
    ``dt_proj`` layers are built as plain Python lists of ``nn.Linear``,
    stacked into the parameters ``x_proj_weight``, ``dt_projs_weight`` and
    ``dt_projs_bias`` and deleted before that call, so ``apply`` never sees
    them: ``dt_proj`` keeps its special initialisation (weights uniform in
    +-dt_rank**-0.5, bias the inverse softplus of dt in [1e-3, 1e-1]),
    ``x_proj`` keeps ``nn.Linear``'s default kaiming-uniform draw, and
    ``A_logs = log(1..N)`` and ``Ds = 1`` are untouched. Convolutions keep
    PyTorch's defaults. Our :class:`DirectionalScanParams` stores the same
    tensors as parameters (no ``nn.Linear``), so applying this function
    reproduces that split exactly.

    Args:
        module: Any module; only ``nn.Linear`` and ``nn.LayerNorm`` change.
        std: Standard deviation of the truncated normal. Defaults to 0.02.
    """
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=std)
        if module.bias is not None:
            zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
        ones_(module.weight)
        if module.bias is not None:
            zeros_(module.bias)


def _mlp(dim: int, mlp_ratio: float, drop: float) -> nn.Module | None:
    if mlp_ratio < 0:
        raise ValueError(f'mlp_ratio must be >= 0, got {mlp_ratio}')
    if mlp_ratio == 0:
        return None
    return Mlp(dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU,
               drop=drop)


@MODELS.register_module()
class SS2DBlock(nn.Module):
    """``x + DropPath(SS2D(LN(x)))``, then ``x + DropPath(MLP(LN2(x)))``.

    VMamba block (arXiv 2401.10166) as used by M3amba (arXiv 2503.06446) for
    its fused stream. ``mlp_ratio=0`` drops the MLP half (VMamba v0 blocks).

    Args:
        dim (int): Channels ``C``. Default: 96 (VMamba's SS2D default).
        drop_path (float): Stochastic depth rate of both residual branches.
        mlp_ratio (float): MLP hidden width / ``dim`` (timm ``Mlp``, GELU).
        d_state (int): SSM state size.
        expand (float): SS2D expansion.
        mlp_drop (float): Dropout inside the MLP.
        norm_eps (float): LayerNorm epsilon. Default 1e-5, the official
            M3amba's (plain ``nn.LayerNorm``); 1e-6 (:data:`LEGACY_NORM_EPS`)
            was our former default.
        **ss2d_kwargs: Further :class:`SS2D` arguments (``dt_rank``,
            ``d_conv``, ``scan_backend``, ...).

    Shape:
        forward: ``(B, H, W, dim)`` -> ``(B, H, W, dim)``.
    """

    def __init__(self,
                 dim: int = 96,
                 drop_path: float = 0.,
                 mlp_ratio: float = 4.,
                 d_state: int = 16,
                 expand: float = 2,
                 mlp_drop: float = 0.,
                 norm_eps: float = M3AMBA_NORM_EPS,
                 **ss2d_kwargs):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.op = SS2D(dim, d_state=d_state, expand=expand, **ss2d_kwargs)
        self.drop_path = (DropPath(drop_path) if drop_path > 0
                          else nn.Identity())
        self.mlp = _mlp(dim, mlp_ratio, mlp_drop)
        self.norm2 = (nn.LayerNorm(dim, eps=norm_eps)
                      if self.mlp is not None else None)

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, dim) -> (B, H, W, dim)."""
        x = x + self.drop_path(self.op(self.norm(x)))
        if self.mlp is not None:
            x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


@MODELS.register_module()
class CrossSS2DBlock(nn.Module):
    """``x + DropPath(CrossSS2D(LN(x), LN(g)))``, then the MLP residual.

    The MLP residual is ``x + DropPath(MLP(LN2(x)))``.

    M3amba's cross block (arXiv 2503.06446). By default one LayerNorm is
    applied to both ``x`` and the guide (the official code normalises both
    with ``LN``);
    ``separate_guide_norm=True`` gives the guide its own.

    Args:
        dim (int): Channels ``C``. Default: 96 (VMamba's SS2D default).
        drop_path (float): Stochastic depth rate of both residual branches.
        mlp_ratio (float): MLP hidden width / ``dim``; 0 drops the MLP.
        d_state (int): SSM state size.
        expand (float): SS2D expansion.
        mlp_drop (float): Dropout inside the MLP.
        norm_eps (float): LayerNorm epsilon. Default 1e-5 (official M3amba);
            1e-6 was our former default.
        separate_guide_norm (bool): Own LayerNorm for the guide.
        **cross_kwargs: Further :class:`CrossSS2D` arguments (``dt_rank``,
            ``scan_backend``, ``compute_guide_scan``, ...).

    Shape:
        forward: ``x``, ``guide``: ``(B, H, W, dim)`` -> ``(B, H, W, dim)``.
        With ``compute_guide_scan=True`` a tuple ``(x_out, guide_scan)``
        where ``guide_scan`` is the raw CrossSS2D output for the guide (no
        residual, no MLP; the official caller discards it).
    """

    def __init__(self,
                 dim: int = 96,
                 drop_path: float = 0.,
                 mlp_ratio: float = 4.,
                 d_state: int = 16,
                 expand: float = 2,
                 mlp_drop: float = 0.,
                 norm_eps: float = M3AMBA_NORM_EPS,
                 separate_guide_norm: bool = False,
                 **cross_kwargs):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.guide_norm = (nn.LayerNorm(dim, eps=norm_eps)
                           if separate_guide_norm else self.norm)
        self.op = CrossSS2D(dim, d_state=d_state, expand=expand,
                            **cross_kwargs)
        self.drop_path = (DropPath(drop_path) if drop_path > 0
                          else nn.Identity())
        self.mlp = _mlp(dim, mlp_ratio, mlp_drop)
        self.norm2 = (nn.LayerNorm(dim, eps=norm_eps)
                      if self.mlp is not None else None)

    def forward(self, x: Tensor,
                guide: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Cross block on ``x`` guided by ``guide`` (both (B, H, W, dim))."""
        out = self.op(self.norm(x), self.guide_norm(guide))
        guide_scan = None
        if isinstance(out, tuple):
            out, guide_scan = out
        x = x + self.drop_path(out)
        if self.mlp is not None:
            x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x if guide_scan is None else (x, guide_scan)
