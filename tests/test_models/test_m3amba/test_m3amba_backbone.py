"""M3ambaCLIPAdapterBackbone: shapes, the CLIP branch, freezing, bad input."""
import copy

import pytest
import torch
import torch.nn.functional as F
from m3amba_helpers import CROP, MODALITIES, TINY_TOWER, WIDTH, build

from m3plugins.utils.modalities import ModalityError


def tiny_backbone(**overrides):
    torch.manual_seed(0)
    cfg = dict(type='M3ambaCLIPAdapterBackbone',
               modality_channels=dict(MODALITIES), crop_size=CROP,
               embed_dims=WIDTH, foundation_model=copy.deepcopy(TINY_TOWER))
    cfg.update(overrides)
    return build(cfg)


def stacked(batch=2, crop=CROP, channels=sum(MODALITIES.values())):
    return torch.randn(batch, channels, *crop)


def test_output_shapes_and_crop_size_from_config():
    backbone = tiny_backbone()
    outs = backbone(stacked())
    assert len(outs) == 3  # hsi tokens, lidar tokens, fused
    for out in outs:
        assert out.shape == (2, WIDTH, *CROP)
    adapter = backbone.clip_adapters['hsi']
    assert adapter.embedding_to_grid.in_features == backbone.tower.output_dim
    assert adapter.embedding_to_grid.out_features == CROP[0] * CROP[1]
    assert adapter.tower_adapter.in_channels == 5
    assert adapter.tower_adapter.out_channels == 3
    assert adapter.grid_to_channels.out_channels == 5
    assert backbone.clip_adapters['lidar'].grid_to_channels.out_channels == 2
    assert backbone.patch_embeds['lidar'].proj.in_channels == 2


def test_fused_stream_is_sum_of_clip_maps_and_tokens_are_patch_embeds():
    backbone = tiny_backbone().eval()
    x = stacked()
    hsi, lidar = x[:, :5], x[:, 5:]
    with torch.no_grad():
        tok_h, tok_l, fused = backbone(x)
        maps = []
        for name, part in (('hsi', hsi), ('lidar', lidar)):
            adapter = backbone.clip_adapters[name]
            three = adapter.to_tower(part)
            resized = F.interpolate(three, size=backbone.tower.image_size,
                                    mode='bicubic', align_corners=False)
            mean = torch.tensor(backbone.tower.mean).view(1, 3, 1, 1)
            std = torch.tensor(backbone.tower.std).view(1, 3, 1, 1)
            embedding = backbone.tower.encode_image((resized - mean) / std)
            maps.append(adapter.from_embedding(embedding))
        torch.testing.assert_close(fused, maps[0] + maps[1])
        torch.testing.assert_close(tok_h, backbone.patch_embeds['hsi'](hsi))
        # LayerNorm over channels: per-pixel zero mean of the main tokens.
        torch.testing.assert_close(tok_l.mean(1), torch.zeros(2, *CROP),
                                   atol=1e-5, rtol=0)


def test_normalize_for_tower_toggle():
    on = tiny_backbone()
    off = tiny_backbone(normalize_for_tower=False)
    x = torch.full((1, 3, *CROP), 0.5)
    size = tuple(on.tower.image_size)
    torch.testing.assert_close(off.prepare_for_tower(x),
                               torch.full((1, 3, *size), 0.5))
    expected = ((0.5 - torch.tensor(on.tower.mean)) /
                torch.tensor(on.tower.std)).view(1, 3, 1, 1).expand(
                    1, 3, *size)
    torch.testing.assert_close(on.prepare_for_tower(x), expected)


def test_tower_frozen_in_eval_and_adapters_train_through_it():
    backbone = tiny_backbone()
    backbone.train()
    assert not backbone.tower.tower.training
    assert all(not p.requires_grad for p in backbone.tower.parameters())
    sum(o.sum() for o in backbone(stacked())).backward()
    assert all(p.grad is None for p in backbone.tower.parameters())
    grad = backbone.clip_adapters['hsi'].tower_adapter.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert backbone.clip_adapters['lidar'].embedding_to_grid.weight.grad \
        .abs().sum() > 0


def test_init_weights_leaves_the_tower_alone():
    backbone = tiny_backbone()
    before = copy.deepcopy(backbone.tower.state_dict())
    backbone.init_weights()
    for key, value in backbone.tower.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_three_modalities_any_channel_counts():
    backbone = tiny_backbone(modality_channels=dict(hsi=3, sar=4, dsm=1))
    outs = backbone(stacked(channels=8))
    assert len(outs) == 4 and outs[-1].shape == (2, WIDTH, *CROP)


def test_wrong_channel_count_names_the_modalities():
    backbone = tiny_backbone()
    with pytest.raises(ModalityError, match=r'8 channels.*hsi 5 \+ lidar 2'):
        backbone(stacked(channels=8))


@pytest.mark.parametrize('channel, value, name', [
    (6, float('nan'), 'lidar'), (0, float('inf'), 'hsi'),
    (4, -float('inf'), 'hsi')])
def test_non_finite_input_names_the_modality(channel, value, name):
    backbone = tiny_backbone()
    x = stacked()
    x[1, channel, 2, 3] = value
    with pytest.raises(ModalityError, match=f"'{name}'.*NaN or Inf"):
        backbone(x)


def test_input_size_other_than_crop_size_is_rejected():
    backbone = tiny_backbone()
    with pytest.raises(ModalityError, match=r'8x6 grid \(crop_size\).*8x8'):
        backbone(stacked(crop=(8, 8)))


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(modality_channels=dict(hsi=5)), ValueError, 'at least two'),
    (dict(modality_channels=dict(hsi=5, lidar=0)), ValueError,
     "'lidar'.*positive"),
    (dict(modality_channels={'hsi': 5, 'li.dar': 1}), ValueError,
     'without dots'),
    (dict(modality_channels=[5, 1]), ValueError, 'mapping or .name, '
     'channels. pairs'),
    (dict(modality_channels=[('hsi', 5), ('hsi', 1)]), ValueError,
     'listed twice'),
    (dict(resize_mode='area'), ValueError, 'resize_mode'),
    (dict(crop_size=(8, )), ValueError, 'crop_size'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tiny_backbone(**kwargs)
