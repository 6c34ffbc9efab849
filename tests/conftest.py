"""Shared fixtures: the real reference files in ../shared/data, if present."""
import os
import os.path as osp

# OpenMP threads that spin while waiting slow tiny ops down by orders of
# magnitude when the 2 cores are shared; set before torch loads OpenMP (the
# tools' subprocesses inherit it).
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import pytest  # noqa: E402
import torch  # noqa: E402

# Before any test module imports mmseg: on mmcv-lite, mmseg.models imports
# only once m3plugins has put its mmcv.ops stand-in in place, and a test
# file collected on its own must not depend on another file's imports.
import m3plugins  # noqa: E402, F401

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = os.environ.get(
    'M3PLUGINS_SHARED_DATA', osp.join(REPO_ROOT, '..', 'shared', 'data'))

# Two cores are shared by the whole suite: keep intra-op threads predictable,
# here and in the tools the tests start (the thread policy and
# ThreadTuningHook take a set count as given; their own tests unset it).
torch.set_num_threads(min(2, torch.get_num_threads()))
os.environ.setdefault('M3PLUGINS_THREADS', str(torch.get_num_threads()))


@pytest.fixture(scope='session')
def shared_data():
    """Path of ../shared/data; the test is skipped where it does not exist."""
    if not osp.isdir(SHARED_DATA):
        pytest.skip('../shared/data is not present (only on project machines)')
    return SHARED_DATA


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT
