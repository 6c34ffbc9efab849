"""Necks; importing this module registers them."""
from .difference_guided_gated_fusion import DifferenceGuidedGatedFusion  # noqa: F401,E501
from .m3amba_fusion_neck import M3ambaFusionNeck  # noqa: F401
