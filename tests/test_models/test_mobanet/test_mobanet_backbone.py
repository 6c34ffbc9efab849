"""MoBaNetBackbone: padding, stages, taps, frozen tower, bad input."""
import pytest
import torch
from mmseg.registry import MODELS
from mobanet_helpers import TINY_FOUNDATION, tiny_backbone_cfg

import m3plugins  # noqa: F401
from m3plugins.models.mobanet.mobanet_backbone import default_tap_indices
from m3plugins.utils.modalities import ModalityError


@pytest.fixture(scope='module')
def backbone():
    torch.manual_seed(0)
    return MODELS.build(tiny_backbone_cfg())


def test_default_taps_per_depth():
    assert default_tap_indices(24) == (5, 11, 17, 23)
    assert default_tap_indices(12) == (2, 5, 8, 11)
    assert default_tap_indices(8) == (1, 3, 5, 7)
    assert default_tap_indices(4) == (0, 1, 2, 3)
    with pytest.raises(ValueError, match='Cannot tap'):
        default_tap_indices(3)


def test_output_shapes_and_padding_to_patch_multiple(backbone):
    inputs = torch.rand(2, 4, 50, 60)
    optical, dsm = backbone(inputs)
    # 50 -> 56, 60 -> 70 (multiples of 14): a 4 x 5 grid.
    assert len(optical) == len(dsm) == 4
    assert all(m.shape == (2, 64, 4, 5) for m in optical + dsm)
    # 256 -> 266: the official 19 x 19 grid.
    optical, _ = backbone(torch.rand(1, 4, 256, 256))
    assert optical[0].shape[-2:] == (19, 19)
    # Padding is zero padding at the bottom / right.
    padded = torch.nn.functional.pad(inputs, (0, 10, 0, 6))
    for a, b in zip(backbone(inputs)[0], backbone(padded)[0]):
        torch.testing.assert_close(a, b)


def test_dsm_band_is_repeated_and_streams_differ(backbone):
    inputs = torch.rand(1, 4, 28, 28)
    optical, dsm = backbone(inputs)
    assert not torch.allclose(optical[-1], dsm[-1])
    three_band = MODELS.build(tiny_backbone_cfg(
        modality_channels=dict(optical=3, dsm=3)))
    three_band.load_state_dict(backbone.state_dict())
    repeated = torch.cat([inputs[:, :3], inputs[:, 3:].expand(-1, 3, -1, -1)],
                         dim=1)
    torch.testing.assert_close(three_band(repeated)[1][-1], dsm[-1])


def test_frozen_tower_trainable_copy_and_eval_mode(backbone):
    backbone.train()
    assert not any(m.training for m in backbone.foundation.tower.modules())
    tower = backbone.foundation.tower
    assert not any(p.requires_grad for p in tower.parameters())
    copy = backbone.dsm_patch_embed
    assert all(p.requires_grad for p in copy.parameters())
    torch.testing.assert_close(copy.proj.weight, tower.patch_embed.proj.weight)
    assert copy.proj.weight.data_ptr() != \
        tower.patch_embed.proj.weight.data_ptr()
    backbone.zero_grad(set_to_none=True)
    optical, dsm = backbone(torch.rand(2, 4, 28, 28))
    (sum(m.sum() for m in optical) + sum(m.sum() for m in dsm)).backward()
    assert all(p.grad is None for p in tower.parameters())
    assert copy.proj.weight.grad is not None
    assert all(p.grad is not None for p in backbone.cpia.parameters())


def test_cpia_and_dsm_copy_switches():
    plain = MODELS.build(tiny_backbone_cfg(use_cpia=False,
                                           trainable_dsm_patch_embed=False))
    assert plain.cpia is None and plain.dsm_patch_embed is None
    assert sum(p.numel() for p in plain.parameters() if p.requires_grad) == 0
    optical, dsm = plain(torch.rand(1, 4, 28, 28))
    assert optical[0].shape == (1, 64, 2, 2)


def test_open_clip_tower_works_too():
    clip = dict(source='open_clip', name='ViT-B-32', pretrained=None,
                model_kwargs=dict(
                    vision_cfg=dict(image_size=32, patch_size=8, width=64,
                                    layers=4, head_width=32, mlp_ratio=2),
                    text_cfg=dict(context_length=8, vocab_size=100,
                                  width=32, heads=2, layers=1),
                    embed_dim=16))
    backbone = MODELS.build(tiny_backbone_cfg(foundation_model=clip,
                                              tap_indices=None))
    assert backbone.tap_indices == (0, 1, 2, 3)
    optical, dsm = backbone(torch.rand(1, 4, 30, 30))  # 30 -> 32: 4 x 4
    assert optical[3].shape == dsm[3].shape == (1, 64, 4, 4)


def test_bad_configuration():
    with pytest.raises(ValueError, match='exactly two modalities'):
        MODELS.build(tiny_backbone_cfg(modality_channels=dict(optical=3)))
    with pytest.raises(ValueError, match="'optical'.*needs 3 channels"):
        MODELS.build(tiny_backbone_cfg(
            modality_channels=dict(optical=4, dsm=1)))
    with pytest.raises(ValueError, match="'dsm' must have 1 band"):
        MODELS.build(tiny_backbone_cfg(
            modality_channels=dict(optical=3, dsm=2)))
    with pytest.raises(ValueError, match='strictly increasing'):
        MODELS.build(tiny_backbone_cfg(tap_indices=(1, 1, 2, 3)))
    with pytest.raises(ValueError, match='strictly increasing'):
        MODELS.build(tiny_backbone_cfg(tap_indices=(0, 1, 2, 4)))


def test_bad_input_names_the_modality(backbone):
    with pytest.raises(ModalityError, match=r'optical 3 \+ dsm 1'):
        backbone(torch.rand(1, 3, 28, 28))
    bad = torch.rand(1, 4, 28, 28)
    bad[0, 3, 5, 5] = float('nan')
    with pytest.raises(ModalityError, match="'dsm'.*NaN"):
        backbone(bad)
    bad = torch.rand(1, 4, 28, 28)
    bad[0, 1, 0, 0] = float('inf')
    with pytest.raises(ModalityError, match="'optical'"):
        backbone(bad)


def test_pretrained_weights_load_in_init_weights(tmp_path):
    from safetensors.torch import save_file

    from m3plugins.models.foundation import FrozenFoundationModel
    source = FrozenFoundationModel(**TINY_FOUNDATION)
    state = {k[len('tower.'):]: v.contiguous()
             for k, v in source.state_dict().items()}
    path = str(tmp_path / 'tower.safetensors')
    save_file(state, path)
    foundation = dict(TINY_FOUNDATION, pretrained=path)
    torch.manual_seed(1)
    backbone = MODELS.build(tiny_backbone_cfg(foundation_model=foundation))
    weight = backbone.foundation.tower.patch_embed.proj.weight
    assert not torch.equal(weight, state['patch_embed.proj.weight'])
    backbone.init_weights()
    for key, value in backbone.foundation.tower.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert torch.equal(backbone.dsm_patch_embed.proj.weight,
                       state['patch_embed.proj.weight'])
    assert not any(p.requires_grad
                   for p in backbone.foundation.parameters())
    # Loading at construction instead.
    eager = MODELS.build(tiny_backbone_cfg(foundation_model=foundation,
                                           defer_pretrained=False))
    assert torch.equal(eager.foundation.tower.patch_embed.proj.weight,
                       state['patch_embed.proj.weight'])
