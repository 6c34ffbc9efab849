"""``tools/test.py --out/--show-dir``: no input replaced, every image drawn.

In process, with the runner replaced: the refusals come before it is
built, and the config it would get is inspected.
"""
import importlib.util
import os.path as osp

import pytest
from repo_root import REPO_ROOT
from user_error import raises_user_error

from m3plugins.utils.output_paths import OutputOverwriteError

MOBANET = osp.join(REPO_ROOT, 'configs', 'mobanet', 'mobanet_demo.py')
CLIPS = osp.join(REPO_ROOT, 'configs', 'mobanet', 'mobanet_potsdam_clips.py')


class _Runner:
    """Stands in for the runner: keeps the config it was built from."""
    built = []

    def __init__(self, cfg):
        self.built.append(cfg)

    def test(self):
        return {}


@pytest.fixture
def test_tool(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')  # the tower check: no network
    spec = importlib.util.spec_from_file_location(
        'm3plugins_tool_test_outputs',
        osp.join(REPO_ROOT, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _Runner.built = []
    monkeypatch.setattr(module, 'build_runner', _Runner)
    return module


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / 'ckpts' / 'iter_1.pth'
    path.parent.mkdir()
    path.write_bytes(b'weights')
    return str(path)


def _args(tmp_path, checkpoint, *extra, config=MOBANET):
    return [config, checkpoint, '--work-dir', str(tmp_path / 'w'), *extra]


def test_show_dir_draws_every_image(test_tool, tmp_path, checkpoint):
    """The clip configs' interval 50 drew nothing on a short test set."""
    show_dir = str(tmp_path / 'vis')
    test_tool.main(_args(tmp_path, checkpoint, '--show-dir', show_dir,
                         '--out', str(tmp_path / 'metric'),
                         '--cfg-options',
                         'default_hooks.visualization.interval=50',
                         'model.backbone.foundation_model.pretrained=None',
                         config=CLIPS))
    cfg = _Runner.built[-1]
    hook = cfg.default_hooks.visualization
    assert (hook.draw, hook.interval) == (True, 1)
    assert cfg.visualizer.save_dir == show_dir
    assert cfg.test_evaluator.output_dir == str(tmp_path / 'metric')


def test_non_empty_folders_need_overwrite(test_tool, tmp_path, checkpoint):
    vis = tmp_path / 'vis'
    vis.mkdir()
    (vis / 'earlier.png').write_bytes(b'png')
    with raises_user_error(OutputOverwriteError,
                           r'vis \(--show-dir\) is not empty \(earlier\.png'
                           r'\); pass --overwrite'):
        test_tool.main(_args(tmp_path, checkpoint, '--show-dir', str(vis)))
    assert not _Runner.built
    test_tool.main(_args(tmp_path, checkpoint, '--show-dir', str(vis),
                         '--overwrite'))
    assert len(_Runner.built) == 1


def test_an_existing_file_is_not_a_folder(test_tool, tmp_path, checkpoint):
    with raises_user_error(OutputOverwriteError,
                           r'iter_1\.pth \(--out\) is an existing file'):
        test_tool.main(_args(tmp_path, checkpoint, '--out', checkpoint,
                             '--overwrite'))


def test_input_folders_are_refused_even_with_overwrite(test_tool, tmp_path,
                                                       checkpoint):
    with raises_user_error(OutputOverwriteError,
                           r'ckpts \(--out\) is the folder of checkpoint'):
        test_tool.main(_args(tmp_path, checkpoint, '--out',
                             osp.dirname(checkpoint), '--overwrite'))
    # The data folders of the test set: the metric writes <image>.png
    # files, which would replace the clips of an MMSeg image folder.
    data = tmp_path / 'potsdam'
    images = data / 'img_dir' / 'val'
    images.mkdir(parents=True)
    with raises_user_error(OutputOverwriteError,
                           r'val \(--out\) is a test data folder'):
        test_tool.main(_args(
            tmp_path, checkpoint, '--out', str(images), '--overwrite',
            '--cfg-options', f'test_dataloader.dataset.data_root={data}',
            config=CLIPS))
    assert not _Runner.built
