"""Data transforms; importing this module registers them into TRANSFORMS."""
from .load_hsi_scene_window import LoadHSISceneWindow  # noqa: F401
from .multimodal_clip_loading import LoadMultimodalClip  # noqa: F401
from .multimodal_tile_loading import (  # noqa: F401
    LoadMultimodalTile,
    LoadRandomMultimodalWindow,
)
