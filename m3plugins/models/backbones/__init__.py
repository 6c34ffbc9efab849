"""Backbones; importing this module registers them."""
from .m3amba_clip_adapter_backbone import M3ambaCLIPAdapterBackbone  # noqa: F401,E501
from .mobanet_backbone import MoBaNetBackbone  # noqa: F401
from .spectral_mamba import SpectralMamba  # noqa: F401
