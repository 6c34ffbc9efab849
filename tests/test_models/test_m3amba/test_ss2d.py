"""SS2D, CrossSS2D and their blocks: shapes, init, gradients, coupling."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from m3plugins.models.m3amba import SS2D, CrossSS2D, CrossSS2DBlock, SS2DBlock
from m3plugins.ops import cross_merge, cross_scan, selective_scan_reference

C, H, W = 8, 3, 5  # non-square map


def randomise_scan_params(module, seed=0):
    """Break the symmetric init (equal A_log in both streams, D = 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(('A_logs', 'Ds', 'dt_projs_bias')):
                p.copy_(torch.randn(p.shape, generator=gen,
                                    dtype=p.dtype) * 0.5)


def test_ss2d_shape_and_backend_equivalence():
    torch.manual_seed(0)
    layer = SS2D(C, d_state=4, scan_backend='torch').double()
    x = torch.randn(2, H, W, C, dtype=torch.float64)
    y = layer(x)
    assert y.shape == (2, H, W, C)
    layer.scan_backend = 'reference'
    torch.testing.assert_close(layer(x), y, rtol=1e-9, atol=1e-9)


def test_ss2d_vmamba_initialisation():
    layer = SS2D(32, d_state=6, dt_min=1e-3, dt_max=1e-1)
    params = layer.scan_params
    assert params.dt_rank == math.ceil(32 / 16)
    assert params.x_proj_weight.shape == (4, params.dt_rank + 12, 64)
    expected = torch.log(torch.arange(1, 7, dtype=torch.float32)).expand(
        4 * 64, 6)
    torch.testing.assert_close(params.A_logs.detach(), expected)
    assert torch.equal(params.Ds.detach(), torch.ones(4 * 64))
    dt = F.softplus(params.dt_projs_bias.detach())
    assert dt.min() >= 1e-3 * (1 - 1e-4) and dt.max() <= 1e-1 * (1 + 1e-4)
    assert params.dt_projs_weight.abs().max() <= params.dt_rank**-0.5
    floored = SS2D(32, dt_min=1e-6, dt_max=2e-6,
                   dt_init_floor=1e-4).scan_params
    torch.testing.assert_close(F.softplus(floored.dt_projs_bias.detach()),
                               torch.full((4, 64), 1e-4), rtol=1e-4, atol=0)


def test_ss2d_every_parameter_gets_a_gradient():
    layer = SS2D(C, d_state=4)
    layer(torch.randn(2, H, W, C)).square().sum().backward()
    missing = [n for n, p in layer.named_parameters()
               if p.grad is None or not p.grad.any()]
    assert missing == []


def cross_expected_x(module, x, guide):
    """X's output written out from the Cross-SS2D definition.

    Follows M3amba's official code, with the reference scan.
    """
    stem, px, pg = module.stem, module.scan_params_x, module.scan_params_guide
    fx, zx = stem.encode(x)
    fg, _ = stem.encode(guide)
    xs_x, xs_g = cross_scan(fx), cross_scan(fg)
    delta_x, _, C_x = px.project(xs_x)
    _, B_g, _ = pg.project(xs_g)
    A = (-torch.exp(px.A_logs) - torch.exp(pg.A_logs)) / 2
    L = H * W
    ys = selective_scan_reference(xs_x.flatten(1, 2), delta_x, A, B_g, C_x,
                                  px.Ds,
                                  delta_bias=px.dt_projs_bias.flatten(),
                                  delta_softplus=True)
    return stem.decode(cross_merge(ys.view(x.shape[0], 4, -1, L), H, W), zx)


def test_cross_ss2d_coupling_matches_design():
    torch.manual_seed(0)
    module = CrossSS2D(C, d_state=4).double()
    randomise_scan_params(module)
    x = torch.randn(2, H, W, C, dtype=torch.float64)
    g = torch.randn(2, H, W, C, dtype=torch.float64)
    out = module(x, g)
    assert out.shape == (2, H, W, C)
    torch.testing.assert_close(out, cross_expected_x(module, x, g), rtol=1e-9,
                               atol=1e-9)
    # Guide scan on: same x output, plus the guide's own output (uses B from
    # x).
    module.compute_guide_scan = True
    out_x, out_g = module(x, g)
    torch.testing.assert_close(out_x, out, rtol=1e-12, atol=1e-12)
    swapped = module(g, x)[0]  # roles exchanged, parameters not: must differ
    assert out_g.shape == (2, H, W, C) and not torch.allclose(out_g, swapped)


def test_guide_changes_x_output_through_A_and_B_only():
    torch.manual_seed(1)
    module = CrossSS2D(C, d_state=4).double()
    randomise_scan_params(module)
    x = torch.randn(1, H, W, C, dtype=torch.float64)
    g = torch.randn(1, H, W, C, dtype=torch.float64)
    base = module(x, g)
    assert not torch.allclose(module(x, torch.randn_like(g)), base)
    pg, rank, N = module.scan_params_guide, module.scan_params_guide.dt_rank, 4

    def changed(mutate):
        saved = {k: v.clone() for k, v in pg.state_dict().items()}
        with torch.no_grad():
            mutate()
        result = not torch.allclose(module(x, g), base, rtol=1e-12, atol=1e-12)
        pg.load_state_dict(saved)
        return result

    # Averaged A and swapped B couple the guide into x's output; the guide's
    # own dt, C, D and dt bias do not.
    assert changed(lambda: pg.A_logs.add_(0.7))
    assert changed(lambda: pg.x_proj_weight[:, rank:rank + N].mul_(-2))
    assert not changed(lambda: pg.x_proj_weight[:, :rank].mul_(-2))
    assert not changed(lambda: pg.x_proj_weight[:, rank + N:].mul_(-2))
    assert not changed(lambda: pg.Ds.add_(1.0))
    assert not changed(lambda: pg.dt_projs_bias.add_(1.0))


@pytest.mark.parametrize('guide_scan', [False, True])
def test_cross_ss2d_gradients(guide_scan):
    module = CrossSS2D(C, d_state=4, compute_guide_scan=guide_scan)
    out = module(torch.randn(2, H, W, C), torch.randn(2, H, W, C))
    loss = (sum(o.square().sum() for o in out) if guide_scan
            else out.square().sum())
    loss.backward()
    without = {n for n, p in module.named_parameters() if p.grad is None}
    if guide_scan:
        assert without == set()
    else:  # documented exceptions: the guide's dt projection and D
        assert without == {'scan_params_guide.dt_projs_weight',
                           'scan_params_guide.dt_projs_bias',
                           'scan_params_guide.Ds'}


def test_blocks_shapes_registry_and_residual():
    x = torch.randn(2, H, W, C)
    block = MODELS.build(dict(type='SS2DBlock', dim=C, d_state=4,
                              drop_path=0.2))
    assert isinstance(block, SS2DBlock) and block(x).shape == x.shape
    cross = MODELS.build(dict(type='CrossSS2DBlock', dim=C, d_state=4))
    assert isinstance(cross, CrossSS2DBlock)
    assert cross(x, torch.randn_like(x)).shape == x.shape
    # Without MLP and with a zero out_proj the block is the identity
    # (residual).
    plain = SS2DBlock(C, mlp_ratio=0, d_state=4)
    assert plain.mlp is None
    with torch.no_grad():
        plain.op.stem.out_proj.weight.zero_()
    assert torch.equal(plain(x), x)
    both = CrossSS2DBlock(C, d_state=4, compute_guide_scan=True,
                          separate_guide_norm=True)
    out_x, out_g = both(x, torch.randn_like(x))
    assert out_x.shape == out_g.shape == x.shape
    assert both.guide_norm is not both.norm and cross.guide_norm is cross.norm
    for blk, args in ((block, (x, )), (cross, (x, torch.randn_like(x)))):
        blk.zero_grad()
        blk(*args).sum().backward()
        assert all(p.grad is not None for n, p in blk.named_parameters()
                   if 'scan_params_guide' not in n)


def test_ss2d_under_bf16_autocast():
    layer = SS2D(C, d_state=4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = layer(torch.randn(1, H, W, C))
    assert y.shape == (1, H, W, C) and torch.isfinite(y.float()).all()


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match='scan_backend'):
        SS2D(C, scan_backend='fast')
    with pytest.raises(ValueError, match='d_conv'):
        SS2D(C, d_conv=4)
    with pytest.raises(ValueError, match='dt_rank'):
        SS2D(C, dt_rank=0)
    with pytest.raises(ValueError, match='dt_min'):
        SS2D(C, dt_min=0.2, dt_max=0.1)
    with pytest.raises(ValueError, match='mlp_ratio'):
        SS2DBlock(C, mlp_ratio=-1)
    with pytest.raises(ValueError, match='channels-last'):
        SS2D(C)(torch.randn(1, C, H, W))
    module = CrossSS2D(C, d_state=4)
    with pytest.raises(ValueError, match='same shape'):
        module(torch.randn(1, H, W, C), torch.randn(1, W, H, C))
    with pytest.raises(ValueError, match='guide must be'):
        module(torch.randn(1, H, W, C), torch.randn(1, H, W, C + 1))
