"""M3amba's neck follows the official LayerNorm eps and weight init.

Official code: kaka-Cao/M3amba, net/net_vmamba_v4.py (``VSSM``: plain
``nn.LayerNorm`` and ``self.apply(self._init_weights)``; the scan parameters
are ``nn.Parameter`` stacks that ``apply`` never reaches).
"""
import math

import pytest
import torch
import torch.nn.functional as F
from m3amba_helpers import build, tiny_model
from torch import nn

from m3plugins.models.m3amba.vmamba_blocks import CrossSS2DBlock, SS2DBlock


def paper_neck(**overrides):
    """One layer at the paper's width 384 (enough weights for statistics)."""
    torch.manual_seed(0)
    return build(dict(type='M3ambaFusionNeck', depth=1, **overrides))


def block_norms(neck):
    for module in neck.modules():
        if isinstance(module, (SS2DBlock, CrossSS2DBlock)):
            yield from (module.norm, module.norm2)


def test_layer_norm_eps_defaults_to_the_official_1e5():
    default = paper_neck()
    assert all(n.eps == 1e-5 for n in block_norms(default))
    vmamba = paper_neck(norm_eps=1e-6)
    assert all(n.eps == 1e-6 for n in block_norms(vmamba))
    assert SS2DBlock(8, d_state=2).norm.eps == 1e-5
    assert CrossSS2DBlock(8, d_state=2).norm2.eps == 1e-5


def test_linear_layers_get_trunc_normal_002_and_zero_bias():
    neck = paper_neck()
    block = neck.cross_blocks[0][0]
    linears = [m for m in neck.modules() if isinstance(m, nn.Linear)]
    # Cross and fusion blocks: in_proj, out_proj, fc1, fc2 each.
    assert len(linears) == 3 * 4
    for linear in linears:
        assert linear.weight.std().item() == pytest.approx(0.02, rel=0.03)
        assert linear.weight.abs().max().item() < 0.02 * 6
        if linear.bias is not None:
            assert torch.count_nonzero(linear.bias) == 0
    assert block.mlp.fc1.bias is not None  # the zero check above ran
    for norm in (m for m in neck.modules() if isinstance(m, nn.LayerNorm)):
        assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


def test_pytorch_init_stays_available():
    block = paper_neck(linear_init='pytorch').cross_blocks[0][0]
    # kaiming-uniform(a=sqrt 5): std = 1 / sqrt(3 * fan_in).
    assert block.op.stem.in_proj.weight.std().item() == pytest.approx(
        1 / math.sqrt(3 * 384), rel=0.03)
    assert block.mlp.fc1.bias.abs().max().item() > 0.01
    with pytest.raises(ValueError, match='linear_init'):
        paper_neck(linear_init='xavier')


def test_scan_parameters_keep_the_official_special_init():
    neck = paper_neck()
    for params in (neck.cross_blocks[0][1].op.scan_params_x,
                   neck.fusion_blocks[0].op.scan_params):
        d_inner, rank, N = 768, 24, 16
        expected_a = torch.log(torch.arange(1., N + 1)).expand(4 * d_inner, N)
        torch.testing.assert_close(params.A_logs.detach(), expected_a)
        assert torch.all(params.Ds == 1)
        step = F.softplus(params.dt_projs_bias.detach())
        assert step.min() >= 1e-3 * (1 - 1e-4) and step.max() <= 1e-1 * 1.0001
        bound = rank**-0.5
        dt_weight = params.dt_projs_weight.detach()
        assert dt_weight.abs().max() <= bound
        assert dt_weight.std().item() == pytest.approx(bound / math.sqrt(3),
                                                       rel=0.03)
        # x_proj: nn.Linear's default draw, bound 1 / sqrt(d_inner).
        assert params.x_proj_weight.std().item() == pytest.approx(
            1 / math.sqrt(3 * d_inner), rel=0.03)


def test_init_weights_reinitialises_the_neck_only():
    model = tiny_model()
    neck = model.neck
    tower = model.backbone.tower
    tower_before = {k: v.clone() for k, v in tower.state_dict().items()}
    scan = neck.cross_blocks[0][0].op.scan_params_x
    scan_before = {k: v.clone() for k, v in scan.state_dict().items()}
    fc1 = neck.fusion_blocks[1].mlp.fc1
    with torch.no_grad():
        fc1.bias.fill_(0.5)
        fc1.weight.fill_(0.5)
    model.init_weights()
    assert torch.count_nonzero(fc1.bias) == 0
    assert fc1.weight.abs().max() < 0.2 and fc1.weight.std() > 0
    for key, value in tower.state_dict().items():
        torch.testing.assert_close(value, tower_before[key], rtol=0, atol=0)
    for key, value in scan.state_dict().items():
        torch.testing.assert_close(value, scan_before[key], rtol=0, atol=0)


def test_init_cfg_runs_after_the_official_init():
    neck = paper_neck(init_cfg=dict(type='Constant', layer='Linear', val=0.5,
                                    bias=0.25))
    neck.init_weights()
    fc2 = neck.fusion_blocks[0].mlp.fc2
    assert torch.all(fc2.weight == 0.5) and torch.all(fc2.bias == 0.25)
