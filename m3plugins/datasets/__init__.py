"""Datasets and transforms; importing this module registers them."""
from . import transforms  # noqa: F401
