"""Fixtures of the HSI dataset tests.

The file writers are in fake_data.hsi_scene_files.
"""
import pytest
from fake_data.hsi_scene_files import write_scene

from m3plugins.demo.hsi_scene import make_demo_hsi_scene


@pytest.fixture
def scene_writer():
    """:func:`fake_data.hsi_scene_files.write_scene`."""
    return write_scene


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """The built-in demo scene, written once per session."""
    return make_demo_hsi_scene(str(tmp_path_factory.mktemp('demo_hsi')))
