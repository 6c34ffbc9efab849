"""M3amba: CLIP-adapter backbone, VMamba fusion neck, head and segmentor.

M3amba (Cao et al., arXiv 2503.06446; official code: kaka-Cao/M3amba) adapts
each remote-sensing modality to a frozen CLIP image tower, fuses the
modalities with (cross) 2D selective-scan blocks and trains the head with a
cosine consistency loss. This package holds the backbone, the fusion neck,
the head, the segmentor, the loss and the layers only M3amba uses;
importing it registers them into MMSeg's ``MODELS``.
"""
from .clip_modality_adapter import CLIPModalityAdapter
from .cosine_consistency_loss import CosineConsistencyLoss
from .cross_ss2d import CrossSS2D
from .directional_scan_params import DirectionalScanParams
from .m3amba import M3amba
from .m3amba_clip_adapter_backbone import M3ambaCLIPAdapterBackbone
from .m3amba_fusion_neck import M3ambaFusionNeck
from .m3amba_head import M3ambaHead
from .pointwise_patch_embed import PointwisePatchEmbed
from .ss2d import SS2D
from .vmamba_blocks import CrossSS2DBlock, SS2DBlock

__all__ = [
    'CLIPModalityAdapter',
    'CosineConsistencyLoss',
    'CrossSS2D',
    'CrossSS2DBlock',
    'DirectionalScanParams',
    'M3amba',
    'M3ambaCLIPAdapterBackbone',
    'M3ambaFusionNeck',
    'M3ambaHead',
    'PointwisePatchEmbed',
    'SS2D',
    'SS2DBlock',
]
