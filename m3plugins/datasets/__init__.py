"""Datasets and transforms; importing this module registers them."""
from . import (
    hsi,  # noqa: F401
    isprs,  # noqa: F401
    transforms,  # noqa: F401
)
from .hsi_scene_dataset import HSISceneDataset  # noqa: F401
