"""Models; importing this module registers them into MMSeg's MODELS."""
from . import backbones, heads, layers, losses, necks, segmentors  # noqa: F401
