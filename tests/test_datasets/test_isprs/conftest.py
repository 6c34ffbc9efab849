"""Fake ISPRS data roots, written once per test session."""
import pytest
from fake_data.isprs_tiles import write_fake_potsdam, write_fake_vaihingen


@pytest.fixture(scope='session')
def potsdam_root(tmp_path_factory):
    """(root, scenes) of three fake Potsdam tiles: 2_10, 6_7 (train), 2_13."""
    root = tmp_path_factory.mktemp('potsdam')
    return str(root), write_fake_potsdam(str(root))


@pytest.fixture(scope='session')
def vaihingen_root(tmp_path_factory):
    """(root, scenes) of two fake Vaihingen areas: 1 (train), 2 (test)."""
    root = tmp_path_factory.mktemp('vaihingen')
    return str(root), write_fake_vaihingen(str(root))
