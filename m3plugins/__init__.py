"""m3plugins: SpectralMamba, M3amba and MoBaNet inside MMSegmentation.

``import m3plugins`` (directly, or through ``custom_imports`` in an MMSeg
config) registers every model, loss, dataset, transform, metric, hook,
runner and model wrapper of the package into MMSeg's registries. It changes
nothing else of another package but the two things :mod:`m3plugins.compat`
lists (the mmcv-lite ``mmcv.ops`` stand-in and torch's weights-only
allowlist for what mmengine writes into checkpoints); configs opt into the
rest through MMSeg's own mechanisms.
"""
from .compat import apply_compat_patches
from .version import __version__

apply_compat_patches()

from . import datasets, demo, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
