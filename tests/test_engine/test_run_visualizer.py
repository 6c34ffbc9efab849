"""Each run's images land under that run's own timestamped folder.

``tools/demo.py`` trains and then tests in one process; the test run used to
reuse the training run's visualizer (mmengine keeps one per name, and MMSeg's
configs all call theirs ``'visualizer'``), so the MoBaNet demo's painted test
tiles landed in the training run's folder. ``M3PluginsRunner`` (every
config's ``runner_type``) names each run's visualizer apart.
"""
import os.path as osp
import time

import pytest
from mmengine.config import Config
from repo_root import REPO_ROOT

from m3plugins.apis.cli import build_runner

REPO = REPO_ROOT
CONFIG = osp.join(REPO, 'configs', 'mobanet', 'mobanet_demo.py')


def _save_dir(runner):
    backend = runner.visualizer._vis_backends['LocalVisBackend']
    return backend._save_dir


@pytest.mark.slow
def test_second_run_in_a_process_saves_images_under_its_own_folder(tmp_path):
    train_cfg = Config.fromfile(CONFIG)
    train_cfg.work_dir = str(tmp_path / 'run')
    train = build_runner(train_cfg)
    time.sleep(1.1)  # the second run gets another timestamp, as in the demo
    test_cfg = Config.fromfile(CONFIG)
    test_cfg.work_dir = str(tmp_path / 'run')
    test = build_runner(test_cfg)
    assert train.log_dir != test.log_dir
    assert test.visualizer is not train.visualizer
    assert _save_dir(train) == osp.join(train.log_dir, 'vis_data')
    assert _save_dir(test) == osp.join(test.log_dir, 'vis_data')
