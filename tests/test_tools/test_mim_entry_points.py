"""``mim train mmseg`` / ``mim test mmseg`` give the package's guarantees.

They run MMSeg's own ``tools/train.py`` / ``tools/test.py`` (installed inside
the mmseg package); the configs' ``runner_type`` and ``default_hooks`` bring
the data contract check, the checkpoint's tile size and the clean end of
user errors there too.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from repo_root import REPO_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which('mim') is None,
                       reason='openmim is not installed'),
]

M3AMBA_DEMO = osp.join(REPO_ROOT, 'configs', 'm3amba', 'm3amba_demo.py')
SHORT = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2']


def _mim(args, cwd):
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    # mim runs MMSeg's tools with the interpreter it was installed with;
    # put this interpreter's scripts first so that it is this one.
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    return subprocess.run(['mim', *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env=env)


def _traceback_count(output):
    return output.count('Traceback (most recent call last)')


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    from m3plugins.demo import prepare_demo_data
    cwd = tmp_path_factory.mktemp('mim')
    prepare_demo_data('houston2013',
                      str(cwd / 'data' / 'm3plugins_demo'))
    return cwd


def test_mim_train_and_test_keep_the_contract(demo_cwd):
    work = demo_cwd / 'work'
    out = _mim(['train', 'mmseg', M3AMBA_DEMO, '--work-dir', str(work),
                '--cfg-options', *SHORT], demo_cwd)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    import m3plugins  # noqa: F401  (the allowlist for weights-only loading)
    checkpoint = torch.load(work / 'iter_2.pth', map_location='cpu',
                            weights_only=True)
    contract = checkpoint['meta']['dataset_meta']
    assert list(contract['tile_size']) == [16, 16]
    assert [m['name'] for m in contract['modalities']] == ['hsi', 'lidar']
    out = _mim(['test', 'mmseg', M3AMBA_DEMO, '--checkpoint',
                str(work / 'iter_2.pth'), '--work-dir', str(work)], demo_cwd)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert 'Kappa' in out.stdout + out.stderr


def test_mim_train_refuses_a_class_count_mismatch(demo_cwd):
    work = demo_cwd / 'mismatch'
    out = _mim(['train', 'mmseg', M3AMBA_DEMO, '--work-dir', str(work),
                '--cfg-options', 'model.decode_head.num_classes=5', *SHORT],
               demo_cwd)
    output = out.stdout + out.stderr
    assert out.returncode != 0
    assert 'The model does not fit the data.' in output
    assert "decode_head predicts 5 (num_classes=5)" in output
    assert 'Iter(train)' not in output  # before the first iteration
    assert not list(work.glob('*.pth'))
    # MMSeg's tool ends without a traceback; openmim 0.3.9 adds its own
    # for the failed subprocess (CalledProcessError), nothing more.
    assert _traceback_count(output) <= 1
    assert 'ClassCountError' not in output


def test_mim_train_without_data_prints_the_instructions(tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'spectralmamba',
                      'spectralmamba_houston2013.py')
    out = _mim(['train', 'mmseg', config, '--work-dir',
                str(tmp_path / 'work')], tmp_path)
    output = out.stdout + out.stderr
    assert out.returncode != 0
    assert 'Dataset not found.' in output
    assert 'Get the Houston2013 files from' in output
    assert _traceback_count(output) <= 1
    assert 'DatasetNotFoundError' not in output
