"""MoBaNet's Difference-Guided Gated Fusion neck (DGFM).

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet).
"""
from collections.abc import Sequence

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from .difference_guided_gate import DifferenceGuidedGate


@MODELS.register_module()
class DifferenceGuidedGatedFusion(BaseModule):
    """DGFM per stage, LayerNorm on the fused map, 1x1 projections.

    Input: the optical and DSM maps of
    :class:`~m3plugins.models.mobanet.MoBaNetBackbone`, one
    (B, C, h, w) pair per stage. For each stage s::

        fused_s = LayerNorm(DifferenceGuidedGate_s(rgb_s, dsm_s))
        out     = proj_s(fused_s), proj_s(rgb_s), proj_s(dsm_s)   # -> 256

    Output: one flat tuple, so MMSeg heads pick maps with ``in_index``::

        (fused_1 .. fused_S, rgb_1 .. rgb_S, dsm_1 .. dsm_S)

    i.e. for S = 4 the decode head uses ``in_index=[0, 1, 2, 3]`` and the
    auxiliary heads on stage 1 use ``in_index=4`` (optical) and ``8`` (DSM).

    Choices:
        * ``shared_projection=True`` (official): one bias-free 1x1 conv per
          stage projects the fused, optical and DSM maps alike (three
          separate convolutions with ``False``).
        * ``out_scales``: the official model keeps every stage at the ViT's
          1/14 resolution, and MMSeg's UPerHead accepts equal-size inputs
          (its top-down path then adds maps of one size), so the default
          (1, 1, 1, 1) resamples nothing. Scales such as (4, 2, 1, 0.5)
          bilinearly resample stage maps into a pyramid instead (not
          official; exposed for experiments).

    Args:
        in_channels: Channels C of the backbone maps (1024 for ViT-L).
        num_stages: Number of stages S.
        out_channels: Projection width (256).
        gate_ratio: Hidden-width ratio of the gate (see
            :class:`~m3plugins.models.mobanet.DifferenceGuidedGate`).
        shared_projection: One projection per stage for all three maps.
        out_scales: Per-stage resampling factors of the outputs.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 in_channels: int = 1024,
                 num_stages: int = 4,
                 out_channels: int = 256,
                 gate_ratio: float = 0.25,
                 shared_projection: bool = True,
                 out_scales: None | Sequence[float] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_stages = num_stages
        self.out_scales = tuple(out_scales) if out_scales is not None \
            else (1, ) * num_stages
        if len(self.out_scales) != num_stages or \
                any(s <= 0 for s in self.out_scales):
            raise ValueError(f'out_scales needs {num_stages} positive '
                             f'factors, got {out_scales}.')
        self.gates = nn.ModuleList([
            DifferenceGuidedGate(in_channels, ratio=gate_ratio)
            for _ in range(num_stages)
        ])
        self.fuse_norms = nn.ModuleList(
            [nn.LayerNorm(in_channels) for _ in range(num_stages)])
        self.shared_projection = shared_projection
        n_proj = 1 if shared_projection else 3

        def projection():
            return nn.Conv2d(in_channels, out_channels, 1, bias=False)

        self.projections = nn.ModuleList([
            nn.ModuleList([projection() for _ in range(n_proj)])
            for _ in range(num_stages)
        ])

    def _project(self, stage: int, which: int, x: Tensor) -> Tensor:
        projs = self.projections[stage]
        out = projs[0 if self.shared_projection else which](x)
        scale = self.out_scales[stage]
        if scale != 1:
            out = F.interpolate(out, scale_factor=scale, mode='bilinear',
                                align_corners=False)
        return out

    def forward(self, inputs: tuple[Sequence[Tensor], Sequence[Tensor]]
                ) -> tuple[Tensor, ...]:
        """Fuse and project.

        Args:
            inputs: (optical maps, DSM maps), S tensors (B, C, h, w) each.

        Returns:
            tuple[Tensor]: 3 * S maps (B, out_channels, h * scale,
            w * scale): fused stages, then optical, then DSM.
        """
        optical, dsm = inputs
        if len(optical) != self.num_stages or len(dsm) != self.num_stages:
            raise ValueError(f'Expected {self.num_stages} optical and DSM '
                             f'maps, got {len(optical)} and {len(dsm)}.')
        fused: list[Tensor] = []
        opt_out: list[Tensor] = []
        dsm_out: list[Tensor] = []
        for s in range(self.num_stages):
            mixed = self.gates[s](optical[s], dsm[s])
            mixed = self.fuse_norms[s](mixed.permute(0, 2, 3, 1)).permute(
                0, 3, 1, 2)
            fused.append(self._project(s, 0, mixed))
            opt_out.append(self._project(s, 1, optical[s]))
            dsm_out.append(self._project(s, 2, dsm[s]))
        return tuple(fused + opt_out + dsm_out)
