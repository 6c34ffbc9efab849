"""Deterministic built-in demo data (no downloads).

The demo configs read their data from ``data/m3plugins_demo/<name>``
(relative to the working directory, like MMSeg's ``data/`` roots);
:func:`prepare_demo_data` writes it there once. ``python tools/demo.py
--data-only`` does the same from the command line.
"""
import os.path as osp

from .demo_folder import DemoFolderNotEmptyError
from .hsi_demo_scene import HSI_DEMO_ROOT, HSIDemoScene
from .hsi_scene import make_demo_hsi_scene
from .isprs_demo_dataset import ISPRSPotsdamDemoDataset

DEMO_DATA_ROOT = osp.join('data', 'm3plugins_demo')


def prepare_demo_data(name: str, root: str = DEMO_DATA_ROOT) -> str:
    """Generate (once) the demo data set ``name`` under ``root/name``.

    Args:
        name: ``'potsdam'`` (optical + DSM tiles in the ISPRS Potsdam layout)
            or ``'houston2013'`` (HSI + LiDAR scene in Houston2013's layout).
        root: Parent directory of the demo data sets.

    Returns:
        str: The data set's directory.

    Raises:
        DemoFolderNotEmptyError: If ``root/name`` holds files that the
            demo generator did not write (nothing is touched then).
    """
    path = osp.join(root, name)
    if name == 'houston2013':
        make_demo_hsi_scene(path)
    elif name == 'potsdam':
        from .isprs_tiles import make_demo_isprs
        make_demo_isprs(path)
    else:
        raise ValueError(f"Unknown demo data set {name!r}; choose "
                         "'potsdam' or 'houston2013'.")
    return path


__all__ = [
    'DEMO_DATA_ROOT', 'DemoFolderNotEmptyError', 'HSI_DEMO_ROOT',
    'HSIDemoScene',
    'ISPRSPotsdamDemoDataset', 'make_demo_hsi_scene', 'prepare_demo_data'
]
