"""SpectralMamba: the backbone, its layers and the sparse-label segmentor.

SpectralMamba (Yao et al., "SpectralMamba: Efficient Mamba for Hyperspectral
Image Classification", arXiv 2404.08489) embeds each pixel's spectrum as a
sequence of pieces, scans it with selective state-space blocks and merges
spectral and spatial features with a gate. The segmentor trains it from
sparsely labelled pixels. Importing this package registers every class here
into MMSeg's ``MODELS``.
"""
from .gated_spectral_spatial_merging import GatedSpectralSpatialMerging
from .piecewise_sequential_scan import PiecewiseSequentialScan
from .sparse_label_encoder_decoder import SparseLabelEncoderDecoder
from .spectral_mamba import SpectralMamba
from .spectral_piece_embedding import SpectralPieceEmbedding
from .spectral_s6_block import SpectralS6Block

__all__ = [
    'GatedSpectralSpatialMerging',
    'PiecewiseSequentialScan',
    'SparseLabelEncoderDecoder',
    'SpectralMamba',
    'SpectralPieceEmbedding',
    'SpectralS6Block',
]
