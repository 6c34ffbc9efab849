"""Losses; importing this module registers them."""
from .cosine_consistency_loss import CosineConsistencyLoss  # noqa: F401
