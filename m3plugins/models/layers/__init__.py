"""Layers; importing this module registers them."""
from .clip_modality_adapter import CLIPModalityAdapter  # noqa: F401
from .cross_modal_prompt_injected_adapter import (
    CrossModalPromptInjectedAdapter,  # noqa: F401,E501
)
from .cross_ss2d import CrossSS2D
from .difference_guided_gate import DifferenceGuidedGate  # noqa: F401
from .directional_scan_params import DirectionalScanParams
from .frozen_foundation_model import FrozenFoundationModel  # noqa: F401,E501
from .gated_spectral_spatial_merging import GatedSpectralSpatialMerging  # noqa: F401,E501
from .piecewise_sequential_scan import PiecewiseSequentialScan  # noqa: F401
from .pointwise_patch_embed import PointwisePatchEmbed  # noqa: F401
from .spectral_piece_embedding import SpectralPieceEmbedding  # noqa: F401
from .spectral_s6_block import SpectralS6Block  # noqa: F401
from .ss2d import SS2D
from .vmamba_blocks import CrossSS2DBlock, SS2DBlock
