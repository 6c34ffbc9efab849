"""Segmentors; importing this module registers them."""
from .m3amba import M3amba  # noqa: F401
from .mobanet_segmentor import MoBaNetSegmentor  # noqa: F401
from .sparse_label_encoder_decoder import SparseLabelEncoderDecoder  # noqa: F401
