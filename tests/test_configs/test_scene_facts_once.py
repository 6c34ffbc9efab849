"""Each scene's band counts and class count are stated once, in its base.

The scene bases (configs/_base_/datasets/hsi_<scene>.py) hold
``scene_modality_channels`` and ``scene_num_classes``; the model configs of
both families read them, and M3amba's crop protocol is stated once, in
hsi_scene.py, for every scene.
"""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config
from repo_root import REPO_ROOT

LEAVES = sorted(
    path for family in ('spectralmamba', 'm3amba')
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', family, '*.py'))
    if not path.endswith('_demo.py'))


@pytest.mark.parametrize('path', LEAVES, ids=osp.basename)
def test_model_reads_the_scene_facts(path):
    cfg = Config.fromfile(path)
    assert [tuple(m) for m in cfg.model.data_preprocessor.modality_channels
            ] == [tuple(m) for m in cfg.scene_modality_channels]
    assert cfg.model.decode_head.num_classes == cfg.scene_num_classes
    with open(path) as file:
        text = file.read()
    # No band or class count of its own.
    assert not re.search(r"num_classes=\d|\('(?:hsi|lidar|sar)', \d", text)


def test_the_crop_protocol_is_stated_once():
    bases = glob.glob(osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                               '*.py'))
    stating = [osp.basename(p) for p in bases
               if 'crop_size=32' in open(p).read()]
    assert stating == ['hsi_scene.py']
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', 'm3amba',
                                   'm3amba_*.py')):
        cfg = Config.fromfile(path)
        assert cfg.train_dataloader.dataset.protocol == 'crop'
        assert cfg.val_dataloader.dataset.protocol == 'crop'
