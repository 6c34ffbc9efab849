"""tools/checkpoint_size.py on a MoBaNet config with a tiny tower."""
import os.path as osp
import re
import runpy

import pytest
from mmengine.config import Config
from mobanet_helpers import tiny_model_cfg
from repo_root import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools/checkpoint_size.py')


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/mobanet_potsdam.py'))
    cfg.model = tiny_model_cfg()
    path = str(tmp_path_factory.mktemp('config') / 'tiny_mobanet.py')
    cfg.dump(path)
    return path


def _run(monkeypatch, capsys, *args):
    monkeypatch.setattr('sys.argv', ['checkpoint_size.py', *args])
    status = runpy.run_path(TOOL)['main']()
    return status, capsys.readouterr().out


def test_prints_full_and_slim_sizes_and_optimizer_coverage(
        tiny_config, monkeypatch, capsys, tmp_path):
    status, out = _run(monkeypatch, capsys, tiny_config, '--optimizer',
                       '--max-mb', '100', '--tmp-dir', str(tmp_path))
    assert status == 0
    sizes = re.search(r'full \(save_frozen=True\) ([\d.]+) MB, slim '
                      r'\(default\) ([\d.]+) MB', out)
    assert sizes, out
    full, slim = map(float, sizes.groups())
    tower = re.search(r'frozen tower backbone.foundation: \d+ tensors, '
                      r'([\d.]+) MB', out)
    assert tower, out
    assert slim < full and full - slim == pytest.approx(
        float(tower.group(1)), abs=0.2)
    coverage = re.search(r'(\d+) of (\d+) trainable tensors have state', out)
    assert coverage and coverage.group(1) == coverage.group(2), out
    assert 'slim checkpoint <= 100 MB: OK' in out
    assert list(tmp_path.iterdir()) == []  # temporary files removed


def test_exceeding_the_target_fails(tiny_config, monkeypatch, capsys):
    status, out = _run(monkeypatch, capsys, tiny_config, '--max-mb',
                       '0.001')
    assert status == 1 and 'FAIL' in out
