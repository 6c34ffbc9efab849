"""Necks; importing this module registers them."""
from .m3amba_fusion_neck import M3ambaFusionNeck  # noqa: F401
