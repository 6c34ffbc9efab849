"""Heads; importing this module registers them."""
from .m3amba_head import M3ambaHead  # noqa: F401
from .mobanet_aux_head import MoBaNetAuxHead  # noqa: F401
