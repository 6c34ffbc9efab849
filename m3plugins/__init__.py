"""m3plugins: SpectralMamba, M3amba and MoBaNet inside MMSegmentation.

``import m3plugins`` (directly, or through ``custom_imports`` in an MMSeg
config) first makes the pinned host stack work (see :mod:`m3plugins.compat`)
and then registers every model, dataset, transform, metric and hook of the
package into MMSeg's registries.
"""
from .compat import apply_compat_patches
from .version import __version__

apply_compat_patches()

from . import datasets, demo, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
