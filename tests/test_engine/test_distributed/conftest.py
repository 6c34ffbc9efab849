"""Demo data for the distributed tests, generated once per session."""
import pytest

from m3plugins.demo import prepare_demo_data


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """Folder with the built-in ``potsdam`` and ``houston2013`` demo data."""
    root = tmp_path_factory.mktemp('demo_data')
    prepare_demo_data('potsdam', str(root))
    prepare_demo_data('houston2013', str(root))
    return str(root)
