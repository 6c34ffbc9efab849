"""End-to-end runs of the command-line tools, as a user types them.

Every run happens in a temporary working directory, where the demo configs'
relative ``data/m3plugins_demo/`` roots are generated first, and is shortened
with ``--cfg-options`` to a couple of iterations.
"""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
from repo_root import REPO_ROOT

from m3plugins.demo import prepare_demo_data

REPO = REPO_ROOT
DEMO_CONFIG = osp.join(REPO, 'configs', 'spectralmamba',
                       'spectralmamba_demo.py')
SHORT_RUN = [
    'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1'
]

pytestmark = pytest.mark.slow


def _run(args, cwd, check=True):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                         env=env, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(
            f'{" ".join(args)} exited {out.returncode}:\n'
            f'{out.stdout[-3000:]}\n{out.stderr[-3000:]}')
    return out


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A working directory with the demo HSI scene under data/."""
    root = tmp_path_factory.mktemp('workspace')
    prepare_demo_data('houston2013', osp.join(root, 'data', 'm3plugins_demo'))
    return root


def test_train_resume_and_test_tools(workspace):
    work_dir = osp.join(workspace, 'work_dirs', 'tools')
    train = [sys.executable, osp.join(REPO, 'tools', 'train.py'),
             DEMO_CONFIG, '--work-dir', work_dir]
    _run(train + ['--cfg-options', *SHORT_RUN], workspace)
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))

    # --resume continues from iter_2 (weights-only loading of the
    # mmengine checkpoint works without any environment variable).
    options = [o.replace('max_iters=2', 'max_iters=4') for o in SHORT_RUN]
    resumed = _run(train + ['--resume', '--cfg-options', *options], workspace)
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    assert 'Load checkpoint' in resumed.stdout + resumed.stderr or \
        'resumed' in (resumed.stdout + resumed.stderr).lower()

    out_dir = osp.join(workspace, 'test_out')
    show_dir = osp.join(workspace, 'show')
    tested = _run([
        sys.executable, osp.join(REPO, 'tools', 'test.py'), DEMO_CONFIG,
        osp.join(work_dir, 'iter_4.pth'), '--work-dir', work_dir, '--out',
        out_dir, '--show-dir', show_dir
    ], workspace)
    assert 'OA' in tested.stdout + tested.stderr
    # The HSI scene's class map is the painted prediction (--show-dir) and
    # the metric writes its results under --out.
    assert glob.glob(osp.join(show_dir, '*_class_map.png'))
    assert os.listdir(out_dir)


def test_train_tool_runs_mmseg_own_config(workspace):
    """MMSeg's own configs work through our tools on mmcv-lite.

    MMSeg's stock UNet model config (``mmseg::``, SyncBN and all) trained on
    the demo scene, with only the sizes the data dictates overridden.
    """
    bases = [
        'mmseg::_base_/models/fcn_unet_s5-d16.py',
        osp.join(REPO, 'configs', '_base_', 'datasets', 'hsi_scene.py'),
        osp.join(REPO, 'configs', '_base_', 'schedules',
                 'schedule_hsi_4k.py'),
        osp.join(REPO, 'configs', '_base_', 'default_runtime.py'),
    ]
    config = osp.join(workspace, 'mmseg_stock_unet.py')
    with open(config, 'w') as f:
        f.write(f"""_base_ = {bases!r}
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
scene = dict(_delete_=True, type='HSIDemoScene',
             root='data/m3plugins_demo/houston2013',
             modalities=('hsi', 'lidar'), normalization='minmax')
model = dict(
    data_preprocessor=dict(mean=None, std=None, bgr_to_rgb=False,
                           size_divisor=16),
    backbone=dict(in_channels=145, base_channels=16),
    decode_head=dict(in_channels=16, channels=16, num_classes=7),
    auxiliary_head=dict(in_channels=32, channels=16, num_classes=7),
    test_cfg=dict(mode='whole'))
train_dataloader = dict(batch_size=2, num_workers=0,
                        persistent_workers=False, dataset=dict(scene=scene))
val_dataloader = dict(dataset=dict(scene=scene))
test_dataloader = val_dataloader
""")
    work_dir = osp.join(workspace, 'work_dirs', 'stock')
    _run([sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
          '--work-dir', work_dir, '--cfg-options', *SHORT_RUN], workspace)
    assert glob.glob(osp.join(work_dir, 'iter_2.pth'))


def test_train_tool_reports_missing_data(workspace, tmp_path):
    """With the data absent, the tool prints where to get it and exits 2."""
    config = osp.join(REPO, 'configs', 'spectralmamba',
                      'spectralmamba_houston2013.py')
    out = _run([sys.executable, osp.join(REPO, 'tools', 'train.py'),
                config, '--work-dir', str(tmp_path / 'w')],
               cwd=tmp_path, check=False)
    assert out.returncode == 2, out.stderr[-2000:]
    assert 'Dataset not found' in out.stderr
    assert 'TRLabel' in out.stderr  # names the files to get
