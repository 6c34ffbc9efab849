"""High-level APIs."""
from .large_scene_inference import LargeSceneResult, infer_large_scene  # noqa: F401
