"""Data transforms; importing this module registers them into TRANSFORMS."""
from .load_hsi_scene_window import LoadHSISceneWindow  # noqa: F401
