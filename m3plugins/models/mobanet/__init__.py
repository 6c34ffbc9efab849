"""MoBaNet: dual-stream backbone, gated fusion neck, heads and segmentor.

MoBaNet (Li et al., arXiv 2603.17705; official code: sauryeo/MoBaNet) runs
optical and DSM inputs through one frozen ViT, injects cross-modal prompts
before each stage (CPIA), fuses the streams with difference-guided gates
(DGFM) and supervises hard pixels with auxiliary heads. This package holds
the backbone, the neck, the UPerNet decode head in the official form, the
auxiliary head, the segmentor, the hard-pixel targets and the layers only
MoBaNet uses; importing it registers them into MMSeg's ``MODELS``.
"""
from .cross_modal_prompt_injected_adapter import (
    CrossModalPromptInjectedAdapter,
)
from .difference_guided_gate import DifferenceGuidedGate
from .difference_guided_gated_fusion import DifferenceGuidedGatedFusion
from .hard_pixel_targets import hard_pixel_targets
from .mobanet_aux_head import MoBaNetAuxHead
from .mobanet_backbone import MoBaNetBackbone
from .mobanet_segmentor import MoBaNetSegmentor
from .mobanet_uper_head import MoBaNetUPerHead

__all__ = [
    'CrossModalPromptInjectedAdapter',
    'DifferenceGuidedGate',
    'DifferenceGuidedGatedFusion',
    'MoBaNetAuxHead',
    'MoBaNetBackbone',
    'MoBaNetSegmentor',
    'MoBaNetUPerHead',
    'hard_pixel_targets',
]
