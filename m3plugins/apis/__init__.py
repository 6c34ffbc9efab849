"""High-level APIs."""
from .large_scene_inference import (LargeSceneResult,  # noqa: F401
                                    infer_large_scene)
