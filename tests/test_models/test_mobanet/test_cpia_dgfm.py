"""CPIA (layer), DGFM gate (layer) and the DGFM neck: shapes, init, errors."""
import pytest
import torch

from m3plugins.models.mobanet import (
    CrossModalPromptInjectedAdapter,
    DifferenceGuidedGate,
    DifferenceGuidedGatedFusion,
)


def test_cpia_shapes_widths_and_affine_init():
    cpia = CrossModalPromptInjectedAdapter(1024, ratio=0.25)
    assert cpia.hidden_dim == 256
    assert cpia.down_a.weight.shape == (256, 1024)
    assert cpia.fuse.weight.shape == (256, 512)
    assert cpia.up.weight.shape == (1024, 256)
    n_params = sum(p.numel() for p in cpia.parameters())
    assert n_params == 923392  # 4 linears + 2 x (gamma, beta) of 1024
    for gamma, beta in ((cpia.gamma_a, cpia.beta_a),
                        (cpia.gamma_b, cpia.beta_b)):
        assert abs(gamma.mean().item() - 1) < 0.01
        assert abs(beta.mean().item()) < 0.01
        assert 0.015 < gamma.std().item() < 0.025
        assert 0.015 < beta.std().item() < 0.025
    assert not torch.equal(cpia.gamma_a, cpia.gamma_b)
    a, b = torch.randn(2, 7, 1024), torch.randn(2, 7, 1024)
    out_a, out_b = cpia(a, b)
    assert out_a.shape == out_b.shape == (2, 7, 1024)


def test_cpia_injects_t_plus_affine_prompt():
    torch.manual_seed(0)
    cpia = CrossModalPromptInjectedAdapter(16, ratio=0.5)
    a, b = torch.randn(3, 5, 16), torch.randn(3, 5, 16)
    shared = cpia.prompt(a, b)
    out_a, out_b = cpia(a, b)
    torch.testing.assert_close(
        out_a, a + shared + shared * cpia.gamma_a + cpia.beta_a)
    torch.testing.assert_close(
        out_b, b + shared + shared * cpia.gamma_b + cpia.beta_b)


def test_cpia_is_affine_by_default_and_activation_is_optional():
    torch.manual_seed(0)
    a1, b1, a2, b2 = (torch.randn(1, 4, 16) for _ in range(4))
    zero = torch.zeros(1, 4, 16)
    for activation, affine in ((None, True), (dict(type='GELU'), False)):
        cpia = CrossModalPromptInjectedAdapter(16, ratio=0.5,
                                               activation=activation)
        lhs = cpia.prompt(a1 + a2, b1 + b2) + cpia.prompt(zero, zero)
        rhs = cpia.prompt(a1, b1) + cpia.prompt(a2, b2)
        assert torch.allclose(lhs, rhs, atol=1e-5) == affine


def test_cpia_bad_input():
    cpia = CrossModalPromptInjectedAdapter(16, ratio=0.5)
    with pytest.raises(ValueError, match='one shape'):
        cpia(torch.randn(1, 4, 16), torch.randn(1, 5, 16))
    with pytest.raises(ValueError, match='width 16'):
        cpia(torch.randn(1, 4, 8), torch.randn(1, 4, 8))
    with pytest.raises(ValueError, match='>= 1'):
        CrossModalPromptInjectedAdapter(16, ratio=0.01)


@pytest.mark.parametrize('channels, hidden', [(1024, 128), (768, 96),
                                              (384, 48), (64, 32)])
def test_gate_hidden_width(channels, hidden):
    assert DifferenceGuidedGate(channels, ratio=0.25).hidden_dim == hidden


def test_gate_starts_at_half_and_averages():
    gate = DifferenceGuidedGate(64)
    rgb, dsm = torch.randn(2, 64, 5, 6), torch.randn(2, 64, 5, 6)
    assert torch.equal(gate.gate_map(rgb, dsm),
                       torch.full((2, 64, 5, 6), 0.5))
    torch.testing.assert_close(gate(rgb, dsm), 0.5 * (rgb + dsm))
    # The zero-initialised last convolution still learns.
    gate(rgb, dsm).pow(2).sum().backward()
    assert gate.gate[3].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='one shape'):
        gate(rgb, dsm[:, :, :4])


def test_gate_follows_the_learned_gate():
    gate = DifferenceGuidedGate(8)
    torch.nn.init.constant_(gate.gate[3].bias, 50.0)  # gate -> 1: optical
    rgb, dsm = torch.randn(1, 8, 3, 3), torch.randn(1, 8, 3, 3)
    torch.testing.assert_close(gate(rgb, dsm), rgb)


def test_neck_outputs_and_layout():
    neck = DifferenceGuidedGatedFusion(in_channels=64, num_stages=4,
                                       out_channels=32)
    optical = [torch.randn(2, 64, 4, 5) for _ in range(4)]
    dsm = [torch.randn(2, 64, 4, 5) for _ in range(4)]
    outs = neck((optical, dsm))
    assert len(outs) == 12
    assert all(o.shape == (2, 32, 4, 5) for o in outs)
    # Shared projection: optical stage s == proj_s(optical_s).
    for s in range(4):
        torch.testing.assert_close(outs[4 + s],
                                   neck.projections[s][0](optical[s]))
        torch.testing.assert_close(outs[8 + s],
                                   neck.projections[s][0](dsm[s]))
    # Fused stage 1 at init: proj(LayerNorm(0.5 * (rgb + dsm))).
    mixed = 0.5 * (optical[0] + dsm[0])
    normed = neck.fuse_norms[0](mixed.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(outs[0], neck.projections[0][0](normed))


def test_neck_vit_l_parameter_count_and_options():
    neck = DifferenceGuidedGatedFusion()
    # 4 x (gate 443648 + LayerNorm 2048 + shared projection 262144)
    assert sum(p.numel() for p in neck.parameters()) == 4 * 707840
    separate = DifferenceGuidedGatedFusion(64, 2, 16, shared_projection=False)
    assert all(len(p) == 3 for p in separate.projections)
    pyramid = DifferenceGuidedGatedFusion(64, 4, 16, out_scales=(4, 2, 1, 0.5))
    maps = [torch.randn(1, 64, 4, 4) for _ in range(4)]
    sizes = [o.shape[-1] for o in pyramid((maps, maps))]
    assert sizes == [16, 8, 4, 2] * 3
    with pytest.raises(ValueError, match='positive'):
        DifferenceGuidedGatedFusion(64, 4, 16, out_scales=(1, 1))
    with pytest.raises(ValueError, match='Expected 4'):
        pyramid((maps[:3], maps))
