"""Parameter counts (ViT-L/B/S vs official) and the frozen-tower step."""
import copy
import os.path as osp
import runpy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmseg.registry import MODELS
from mobanet_helpers import REPO, make_batch, tiny_model_cfg

from m3plugins.apis.param_report import (
    frozen_step_violations,
    parameter_report,
)

BASE = osp.join(REPO, 'configs/_base_/models/mobanet_vit_l.py')
SCHEDULE = osp.join(REPO, 'configs/_base_/schedules/schedule_mobanet_50k.py')


def meta_report(name=None, dim=None):
    model_cfg = copy.deepcopy(Config.fromfile(BASE).model)
    model_cfg.backbone.foundation_model.pretrained = None
    if name is not None:
        model_cfg.backbone.foundation_model.name = name
        model_cfg.neck.in_channels = dim
    with torch.device('meta'):  # ViT-L without memory or init time
        model = MODELS.build(model_cfg)
    return parameter_report(model)


def test_vit_l_counts_match_the_paper():
    report = meta_report()
    assert report.total.trainable == pytest.approx(8.98e6, rel=0.02)
    assert report.trainable_without(['auxiliary_head']) == \
        pytest.approx(7.80e6, rel=0.02)
    assert report.total.frozen == 304367616  # DINOv2 ViT-L/14
    assert report.modules['backbone'].frozen == report.total.frozen
    # Per head: 3x3 conv 256 -> 256 without bias (589824), BN (512) and the
    # bias-free 1x1 classifier 256 -> 6 (1536), as the official AuxHead.
    assert report.modules['auxiliary_head'].trainable == 2 * 591872


@pytest.mark.parametrize('name, dim, trainable', [
    ('vit_base_patch14_dinov2', 768, 6.18e6),
    ('vit_small_patch14_dinov2', 384, 3.25e6)])
def test_smaller_towers_match_the_paper(name, dim, trainable):
    assert meta_report(name, dim).total.trainable == \
        pytest.approx(trainable, rel=0.02)


def test_one_step_leaves_the_frozen_tower_alone():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    schedule = Config.fromfile(SCHEDULE)
    wrapper = build_optim_wrapper(model, schedule.optim_wrapper)
    tower = model.backbone.foundation
    before = copy.deepcopy(tower.state_dict())
    model.train()
    model.train_step(make_batch(), wrapper)
    assert frozen_step_violations(model, wrapper.optimizer) == []
    for key, value in tower.state_dict().items():
        assert torch.equal(value, before[key]), key
    state = wrapper.optimizer.state
    assert all(state.get(p) for p in model.parameters() if p.requires_grad)
    assert not any(state.get(p) for p in tower.parameters())
    # No weight decay on 1-D parameters (CPIA gamma, norms, biases).
    decay = {id(p): g['weight_decay']
             for g in wrapper.optimizer.param_groups for p in g['params']}
    assert decay[id(model.backbone.cpia[0].gamma_a)] == 0
    assert decay[id(model.neck.fuse_norms[0].weight)] == 0
    assert decay[id(model.backbone.cpia[0].up.bias)] == 0
    assert decay[id(model.backbone.cpia[0].up.weight)] == 0.05


def test_violations_are_reported():
    layer = torch.nn.Linear(2, 2)
    layer.bias.requires_grad_(False)
    optimizer = torch.optim.AdamW(layer.parameters())
    layer.bias.grad = torch.ones(2)  # as if something leaked into the tower
    layer(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    problems = frozen_step_violations(layer, optimizer)
    assert any('bias: has a gradient' in p for p in problems)
    assert any('bias: has optimizer state' in p for p in problems)


def test_cli_meta_report(monkeypatch, capsys):
    tool = runpy.run_path(osp.join(REPO, 'tools/param_report.py'))
    monkeypatch.setattr('sys.argv', ['param_report.py', BASE, '--meta'])
    assert tool['main']() == 0
    out = capsys.readouterr().out
    assert '8.98M (8981376)' in out
    assert 'trainable without auxiliary_head: 7.80M' in out
