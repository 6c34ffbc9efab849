"""m3plugins: SpectralMamba, M3amba and MoBaNet inside MMSegmentation.

``import m3plugins`` (directly, or through ``custom_imports`` in an MMSeg
config) registers every model, loss, dataset, transform, metric, hook,
runner and model wrapper of the package into MMSeg's registries. It changes
nothing else of another package but the two things :mod:`m3plugins.compat`
lists (the mmcv-lite ``mmcv.ops`` stand-in and torch's weights-only
allowlist for what mmengine writes into checkpoints); configs opt into the
rest through MMSeg's own mechanisms.
"""
from .utils.quiet_warnings import quiet_unactionable_warnings
from .version import __version__

# Importing the host stack warns about things a user cannot act on (see
# m3plugins.utils.quiet_warnings); held back during this import only.
with quiet_unactionable_warnings():
    from .compat import apply_compat_patches
    apply_compat_patches()
    from . import datasets, demo, engine, evaluation, models  # noqa: F401

__all__ = ['__version__']
