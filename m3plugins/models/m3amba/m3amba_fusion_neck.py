"""M3amba's multi-modal Mamba fusion neck built from Cross-SS2D blocks."""
from collections.abc import Sequence

import torch
import torch.utils.checkpoint
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from .vmamba_blocks import (
    M3AMBA_NORM_EPS,
    CrossSS2DBlock,
    SS2DBlock,
    init_vmamba_linear_and_norm,
)

#: Weight initialisations of the neck's ``nn.Linear`` / ``nn.LayerNorm``.
LINEAR_INITS = ('vmamba', 'pytorch')


@MODELS.register_module()
class M3ambaFusionNeck(BaseModule):
    """Multi-modal Mamba fusion: Cross-SS2D per modality, SS2D for fusion.

    M3amba (Cao et al., arXiv 2503.06446; official code kaka-Cao/M3amba,
    ``VSSM.forward``). One stage at constant width, no downsampling. With
    modality streams ``x_1 .. x_N`` and fused stream ``z``, layer i does::

        x_m = CrossSS2DBlock_m[i](x_m, guide=z)   for every modality m
        z   = SS2DBlock_z[i](x_1 + ... + x_N)     (z is replaced)

    The paper has two modalities; any N >= 2 works the same way. Stochastic
    depth grows linearly from 0 to ``drop_path_rate`` over the layers, all
    blocks of a layer sharing its rate (as the official ``dpr``).

    Defaults are the paper's: 9 layers, width 384, d_state 16, expand 2,
    dt_rank 24 (= ceil(384 / 16)), MLP ratio 4, drop-path 0.1, and the
    official code's LayerNorm epsilon (1e-5) and weight initialisation:
    ``linear_init='vmamba'`` gives every ``nn.Linear`` (SS2D ``in_proj`` /
    ``out_proj``, MLP ``fc1`` / ``fc2``) trunc_normal(std 0.02) weights and
    zero bias and every LayerNorm weight 1 / bias 0, as the official
    ``VSSM.__init__`` does with ``self.apply(self._init_weights)``
    (kaka-Cao/M3amba, net/net_vmamba_v4.py); the selective-scan parameters
    (``x_proj``, ``dt_proj``, ``A_log``, ``D``) keep their own
    initialisation there and here (see
    :func:`~m3plugins.models.m3amba.vmamba_blocks.init_vmamba_linear_and_norm`).
    It is applied when the neck is built (as the official code does) and
    again by :meth:`init_weights` (mmengine's runner calls it before
    training) before any ``init_cfg``, so a ``Pretrained`` init_cfg still
    wins. The neck holds no part of the frozen CLIP encoder, so nothing
    frozen is touched.

    Args:
        num_modalities: N, the number of modality streams (>= 2).
        embed_dims: Width D of all streams.
        depth: Number of layers.
        d_state: SSM state size.
        expand: SS2D expansion (inner width = expand * D).
        dt_rank: Rank of the delta projection, or ``'auto'``
            (ceil(D / 16)).
        d_conv: Depthwise conv kernel of SS2D.
        mlp_ratio: MLP hidden width / D in every block (0: no MLP).
        drop_path_rate: Stochastic depth rate of the last layer.
        norm_eps: LayerNorm epsilon inside the blocks. Defaults to 1e-5,
            the official M3amba's (``norm_layer="LN"``: plain
            ``nn.LayerNorm``); 1e-6, our former default, is an option.
        scan_backend: Selective-scan backend (``'auto'`` picks the fastest
            available; see :mod:`m3plugins.ops`).
        with_cp: Gradient checkpointing per layer (saves memory in training).
        linear_init: ``'vmamba'`` (default, official: trunc_normal std
            0.02 and zero bias on every ``nn.Linear``, LayerNorm 1 / 0) or
            ``'pytorch'`` (keep PyTorch's default ``nn.Linear`` init:
            kaiming-uniform weights, uniform biases; our earlier default).
        init_cfg: mmengine init config, applied after ``linear_init``.

    Shapes:
        inputs: N + 1 maps (B, D, H, W): modalities, then the initial fused
        stream. Returns N + 1 maps (B, D, H, W) in the same order.
    """

    def __init__(self,
                 num_modalities: int = 2,
                 embed_dims: int = 384,
                 depth: int = 9,
                 d_state: int = 16,
                 expand: float = 2,
                 dt_rank: int | str = 24,
                 d_conv: int = 3,
                 mlp_ratio: float = 4.,
                 drop_path_rate: float = 0.1,
                 norm_eps: float = M3AMBA_NORM_EPS,
                 scan_backend: str = 'auto',
                 with_cp: bool = False,
                 linear_init: str = 'vmamba',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if linear_init not in LINEAR_INITS:
            raise ValueError(f'linear_init must be one of {LINEAR_INITS}, '
                             f'got {linear_init!r}.')
        if num_modalities < 2:
            raise ValueError(
                f'num_modalities must be >= 2, got {num_modalities}.')
        if depth < 1:
            raise ValueError(f'depth must be >= 1, got {depth}.')
        if not 0 <= drop_path_rate < 1:
            raise ValueError(
                f'drop_path_rate must be in [0, 1), got {drop_path_rate}.')
        self.num_modalities = num_modalities
        self.embed_dims = embed_dims
        self.depth = depth
        self.with_cp = with_cp
        self.linear_init = linear_init
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        ssm_args = dict(d_state=d_state, expand=expand, dt_rank=dt_rank,
                        d_conv=d_conv, scan_backend=scan_backend,
                        mlp_ratio=mlp_ratio, norm_eps=norm_eps)
        self.cross_blocks = nn.ModuleList([
            nn.ModuleList([
                CrossSS2DBlock(embed_dims, drop_path=rate, **ssm_args)
                for _ in range(num_modalities)
            ]) for rate in rates
        ])
        self.fusion_blocks = nn.ModuleList([
            SS2DBlock(embed_dims, drop_path=rate, **ssm_args)
            for rate in rates
        ])
        self._apply_linear_init()

    def _apply_linear_init(self) -> None:
        if self.linear_init == 'vmamba':
            self.apply(init_vmamba_linear_and_norm)

    def init_weights(self) -> None:
        """``linear_init`` first, then mmengine's ``init_cfg`` (if any)."""
        if not self.is_init:
            self._apply_linear_init()
        super().init_weights()

    def _layer(self, index: int, *streams: Tensor) -> tuple[Tensor, ...]:
        *modalities, fused = streams
        modalities = [
            block(x, guide=fused)
            for block, x in zip(self.cross_blocks[index], modalities)
        ]
        fused = self.fusion_blocks[index](torch.stack(modalities).sum(0))
        return (*modalities, fused)

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """Fuse the streams.

        Args:
            inputs: N + 1 maps (B, D, H, W): modalities, then fused.

        Returns:
            tuple[Tensor]: N + 1 maps (B, D, H, W), same order.
        """
        if len(inputs) != self.num_modalities + 1:
            raise ValueError(
                f'M3ambaFusionNeck expects {self.num_modalities + 1} maps '
                f'({self.num_modalities} modalities, then the fused stream), '
                f'got {len(inputs)}.')
        shapes = {tuple(x.shape) for x in inputs}
        if len(shapes) != 1 or inputs[0].dim() != 4 or \
                inputs[0].shape[1] != self.embed_dims:
            raise ValueError(
                f'M3ambaFusionNeck expects maps of one shape (B, '
                f'{self.embed_dims}, H, W), got '
                f'{[tuple(x.shape) for x in inputs]}.')
        streams = tuple(x.permute(0, 2, 3, 1) for x in inputs)
        for index in range(self.depth):
            if self.with_cp and self.training and streams[0].requires_grad:
                streams = torch.utils.checkpoint.checkpoint(
                    self._layer, index, *streams, use_reentrant=False)
            else:
                streams = self._layer(index, *streams)
        return tuple(x.permute(0, 3, 1, 2).contiguous() for x in streams)
