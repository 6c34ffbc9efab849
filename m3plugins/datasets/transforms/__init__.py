"""Data transforms; importing this module registers them into TRANSFORMS."""
from .multimodal_tile_loading import (  # noqa: F401
    LoadMultimodalTile, LoadRandomMultimodalWindow)
from .load_hsi_scene_window import LoadHSISceneWindow  # noqa: F401
