"""Layers; importing this module registers them."""
from .cross_ss2d import CrossSS2D
from .directional_scan_params import DirectionalScanParams
from .ss2d import SS2D
from .vmamba_blocks import CrossSS2DBlock, SS2DBlock
