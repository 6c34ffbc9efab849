"""Shared fixtures: the real reference files in ../shared/data, when present."""
import os
import os.path as osp

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = os.environ.get(
    'M3PLUGINS_SHARED_DATA', osp.join(REPO_ROOT, '..', 'shared', 'data'))

# Two cores are shared by the whole suite: keep intra-op threads predictable.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope='session')
def shared_data():
    """Path of ../shared/data; the test is skipped where it does not exist."""
    if not osp.isdir(SHARED_DATA):
        pytest.skip('../shared/data is not present (only on project machines)')
    return SHARED_DATA


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT
