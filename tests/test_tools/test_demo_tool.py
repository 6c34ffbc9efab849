"""``tools/demo.py`` without training: its notice, options and configs.

The demo's final output must say plainly that offline the frozen towers
are random, what that can and cannot show, and how to run with real
weights from a local file; ``--tower-weights`` must give the real tower.
"""
import importlib.util
import os.path as osp
import sys

import pytest
from repo_root import REPO_ROOT

REPO = REPO_ROOT


@pytest.fixture(scope='module')
def demo_tool():
    """``tools/demo.py`` imported as a module."""
    spec = importlib.util.spec_from_file_location(
        'm3plugins_demo_tool', osp.join(REPO, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notice_says_what_random_towers_can_and_cannot_show(demo_tool):
    notice = demo_tool.TOWER_NOTICE
    for phrase in ('RANDOM weights', 'What the demos can show',
                   'trainable parts', 'What they cannot show',
                   "the papers' accuracy", 'pretrained features',
                   '--tower-weights',
                   'model.backbone.foundation_model.pretrained=FILE'):
        assert phrase in notice


def test_demo_output_ends_with_the_notice(demo_tool, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', ['demo.py', '--work-dir', 'unused'])
    monkeypatch.setattr(demo_tool, 'prepare_demo_data', lambda name: name)
    monkeypatch.setattr(demo_tool, 'run_demo',
                        lambda name, *args: dict(OA=90.0))
    demo_tool.main()
    out = capsys.readouterr().out
    assert 'Random frozen tower in: mobanet, m3amba.' in out
    assert out.rstrip().endswith(demo_tool.TOWER_NOTICE.splitlines()[-1])


def test_tower_weights_give_the_real_tower(demo_tool):
    configs = {
        name: demo_tool.load_demo_config(name)
        for name in ('mobanet', 'm3amba', 'spectralmamba')
    }
    assert demo_tool.random_towers(configs) == ['mobanet', 'm3amba']

    mobanet = demo_tool.load_demo_config('mobanet', '/w/dinov2_vits14.pth')
    tower = mobanet.model.backbone.foundation_model
    assert tower.pretrained == '/w/dinov2_vits14.pth'
    assert tower.name == 'vit_small_patch14_dinov2'
    assert tower.model_kwargs == {}  # the demo's shrinking is gone
    assert mobanet.model.neck.in_channels == 384
    m3amba = demo_tool.load_demo_config(
        'm3amba', '/w/clip.bin',
        {'model.backbone.foundation_model.model_kwargs.force_quick_gelu':
         True})
    tower = m3amba.model.backbone.foundation_model
    assert (tower.name, tower.pretrained) == ('ViT-B-32', '/w/clip.bin')
    assert tower.model_kwargs == dict(force_quick_gelu=True)
    assert demo_tool.random_towers(dict(mobanet=mobanet,
                                        m3amba=m3amba)) == []


def test_tower_weights_need_one_demo_with_a_tower(demo_tool, capsys):
    for argv in (['--tower-weights', 'w.pth'],
                 ['--demo', 'spectralmamba', '--tower-weights', 'w.pth']):
        with pytest.raises(SystemExit):
            demo_tool.parse_args(argv)
    assert '--tower-weights needs exactly one' in capsys.readouterr().err
    args = demo_tool.parse_args(
        ['--demo', 'm3amba', '--tower-weights', 'w.pth', '--cfg-options',
         'randomness.seed=3'])
    assert args.cfg_options == {'randomness.seed': 3}
