"""Missing tower weights end train / test / demo before any work.

The tools check ``foundation_model.pretrained`` from the config, so the
error arrives in a second, before the runner, the data pipeline or the
model is built (which the tests replace by a failure).
"""
import importlib.util
import os.path as osp
import sys

import pytest
from repo_root import REPO_ROOT
from user_error import raises_user_error

from m3plugins.models.foundation.weight_files import (
    PretrainedWeightsUnavailableError,
)

DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'mobanet', 'mobanet_demo.py')
MISSING = 'missing/dinov2_vits14.pth'
TOWER_OPTION = f'model.backbone.foundation_model.pretrained={MISSING}'


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        f'm3plugins_tool_{name}_weights',
        osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_work(*args, **kwargs):
    raise AssertionError('work started before the weights were checked')


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_train_and_test_check_weights_first(tool, tmp_path, monkeypatch):
    module = _tool(tool)
    monkeypatch.setattr(module, 'build_runner', _no_work)
    argv = [f'{tool}.py', DEMO_CONFIG, '--work-dir', str(tmp_path / 'w'),
            '--cfg-options', TOWER_OPTION]
    if tool == 'test':
        argv.insert(2, str(tmp_path / 'iter_1.pth'))
    monkeypatch.setattr(sys, 'argv', argv)
    with raises_user_error(PretrainedWeightsUnavailableError,
                           f"pretrained='{MISSING}'.*does not exist"):
        module.main()


def test_demo_checks_tower_weights_before_the_data(monkeypatch):
    module = _tool('demo')
    monkeypatch.setattr(module, 'prepare_demo_data', _no_work)
    monkeypatch.setattr(module, 'run_demo', _no_work)
    monkeypatch.setattr(sys, 'argv', ['demo.py', '--demo', 'mobanet',
                                      '--tower-weights', MISSING])
    with raises_user_error(PretrainedWeightsUnavailableError, MISSING):
        module.main()
