"""Losses; importing this module registers them."""
from .cosine_consistency_loss import CosineConsistencyLoss  # noqa: F401
from .hard_pixel_targets import hard_pixel_targets  # noqa: F401
