"""Heads; importing this module registers them."""
from .m3amba_head import M3ambaHead  # noqa: F401
