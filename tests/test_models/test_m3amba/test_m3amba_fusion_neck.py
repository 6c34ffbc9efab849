"""M3ambaFusionNeck: layer wiring, sizes, drop-path schedule, bad input."""
import pytest
import torch
from m3amba_helpers import build
from torch import nn

from m3plugins.models.m3amba import CrossSS2DBlock, SS2DBlock


def tiny_neck(**overrides):
    torch.manual_seed(0)
    cfg = dict(type='M3ambaFusionNeck', embed_dims=8, depth=3, d_state=4,
               dt_rank=2, mlp_ratio=2.0, drop_path_rate=0.2)
    cfg.update(overrides)
    return build(cfg)


def test_shapes_and_block_sizes():
    neck = tiny_neck()
    inputs = tuple(torch.randn(2, 8, 5, 7) for _ in range(3))
    outs = neck(inputs)
    assert len(outs) == 3
    assert all(o.shape == (2, 8, 5, 7) for o in outs)
    assert len(neck.cross_blocks) == 3 and len(neck.fusion_blocks) == 3
    assert all(len(layer) == 2 for layer in neck.cross_blocks)
    block = neck.cross_blocks[0][1]
    assert isinstance(block, CrossSS2DBlock)
    assert isinstance(neck.fusion_blocks[2], SS2DBlock)
    # expand 2 -> inner width 16; dt_rank 2; MLP hidden 8 * 2.
    assert block.op.scan_params_x.dt_projs_weight.shape[-2:] == (16, 2)
    assert block.mlp.fc1.out_features == 16


def test_paper_defaults():
    neck = build(dict(type='M3ambaFusionNeck', depth=1))
    block = neck.cross_blocks[0][0]
    assert neck.embed_dims == 384
    assert block.op.d_inner == 768
    assert block.op.scan_params_x.dt_projs_weight.shape[-1] == 24
    assert block.op.scan_params_x.A_logs.shape[-1] == 16
    assert block.mlp.fc1.out_features == 4 * 384


def test_drop_path_linear_over_layers():
    neck = tiny_neck(depth=5, drop_path_rate=0.1)
    for i, expected in enumerate(torch.linspace(0, 0.1, 5).tolist()):
        for block in (*neck.cross_blocks[i], neck.fusion_blocks[i]):
            rate = getattr(block.drop_path, 'drop_prob', 0.0)
            assert rate == pytest.approx(expected)


class _RecordingCross(nn.Module):
    """x + 10 * guide, recording what it saw."""

    def __init__(self, log, tag):
        super().__init__()
        self.log, self.tag = log, tag

    def forward(self, x, guide):
        self.log.append((self.tag, x.clone(), guide.clone()))
        return x + 10 * guide


class _Double(nn.Module):

    def forward(self, x):
        return 2 * x


def test_layer_equations_fused_stream_is_replaced():
    """X = Cross_x(x, z); y = Cross_y(y, z); z = SS2D_z(x + y)."""
    neck = tiny_neck(depth=2)
    log = []
    for i in range(2):
        neck.cross_blocks[i] = nn.ModuleList(
            [_RecordingCross(log, f'x{i}'), _RecordingCross(log, f'y{i}')])
        neck.fusion_blocks[i] = _Double()
    x, y, z = (torch.randn(1, 8, 3, 4) for _ in range(3))
    out_x, out_y, out_z = neck((x, y, z))
    x1, y1 = x + 10 * z, y + 10 * z
    z1 = 2 * (x1 + y1)
    x2, y2 = x1 + 10 * z1, y1 + 10 * z1
    z2 = 2 * (x2 + y2)
    for got, expected in ((out_x, x2), (out_y, y2), (out_z, z2)):
        torch.testing.assert_close(got, expected)
    # The second layer's guide is the rebuilt z, not z + z1.
    assert [entry[0] for entry in log] == ['x0', 'y0', 'x1', 'y1']
    torch.testing.assert_close(log[2][2].permute(0, 3, 1, 2), z1)


def test_gradient_checkpointing_same_output_and_grads():
    plain = tiny_neck(depth=1, drop_path_rate=0.0)
    checked = tiny_neck(depth=1, drop_path_rate=0.0, with_cp=True)
    checked.load_state_dict(plain.state_dict())
    inputs = [torch.randn(1, 8, 3, 3, requires_grad=True) for _ in range(3)]
    out_a = plain(inputs)
    out_b = checked(inputs)
    for a, b in zip(out_a, out_b):
        torch.testing.assert_close(a, b)
    sum(o.sum() for o in out_a).backward()
    grad_a = [p.grad.clone() for p in plain.parameters() if p.grad is not None]
    sum(o.sum() for o in out_b).backward()
    grad_b = [p.grad for p in checked.parameters() if p.grad is not None]
    assert len(grad_a) == len(grad_b) > 0
    for a, b in zip(grad_a, grad_b):
        torch.testing.assert_close(a, b)


def test_three_modalities():
    neck = tiny_neck(num_modalities=3, depth=1)
    outs = neck(tuple(torch.randn(1, 8, 3, 3) for _ in range(4)))
    assert len(outs) == 4


@pytest.mark.parametrize('inputs, match', [
    ((torch.zeros(1, 8, 3, 3), ) * 2, 'expects 3 maps'),
    ((torch.zeros(1, 8, 3, 3), torch.zeros(1, 8, 3, 3),
      torch.zeros(1, 8, 3, 4)), 'one shape'),
    ((torch.zeros(1, 6, 3, 3), ) * 3, r'\(B, 8, H, W\)'),
])
def test_bad_inputs(inputs, match):
    with pytest.raises(ValueError, match=match):
        tiny_neck(depth=1)(inputs)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_modalities=1), 'num_modalities'),
    (dict(depth=0), 'depth'),
    (dict(drop_path_rate=1.0), 'drop_path_rate'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_neck(**kwargs)
