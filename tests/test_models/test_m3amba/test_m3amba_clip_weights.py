"""CLIP tower weights for M3amba: a local file, and an offline tag."""
import copy

import pytest
import torch
from m3amba_helpers import TINY_CLIP_KWARGS, build, tiny_model_cfg

from m3plugins.models.foundation.frozen_foundation_model import (
    PretrainedWeightsUnavailableError,
)


@pytest.mark.parametrize('suffix', ['.pt', '.safetensors'])
def test_local_clip_weight_file_is_loaded_into_the_tower(tmp_path, suffix):
    import open_clip
    torch.manual_seed(123)
    clip = open_clip.create_model('ViT-B-32', pretrained=None,
                                  **copy.deepcopy(TINY_CLIP_KWARGS))
    path = str(tmp_path / f'tiny_clip{suffix}')
    if suffix == '.pt':
        torch.save(clip.state_dict(), path)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in clip.state_dict().items()},
                  path)
    cfg = tiny_model_cfg()
    cfg.backbone.foundation_model.pretrained = path
    torch.manual_seed(0)  # a different seed: only the file decides
    model = build(cfg)
    tower = model.backbone.tower.tower
    expected = clip.visual.state_dict()
    for key, value in tower.state_dict().items():
        torch.testing.assert_close(value, expected[key], msg=key)
    assert all(not p.requires_grad for p in tower.parameters())
    # The adapters stay trainable and randomly initialised.
    assert model.backbone.clip_adapters['hsi'].tower_adapter.weight \
        .requires_grad


def test_missing_local_file_is_a_clear_error(tmp_path):
    cfg = tiny_model_cfg()
    cfg.backbone.foundation_model.pretrained = str(tmp_path / 'nope.pt')
    with pytest.raises(FileNotFoundError, match='nope.pt.*does not exist'):
        build(cfg)


def test_tag_without_network_names_the_file_and_where_to_put_it(
        monkeypatch):
    import open_clip.factory as factory

    def offline(*args, **kwargs):
        raise ConnectionError('no network')

    monkeypatch.setattr(factory, 'download_pretrained', offline)
    cfg = tiny_model_cfg()
    cfg.backbone.foundation_model.pretrained = 'openai'
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        build(cfg)
    message = str(info.value)
    assert 'ViT-B-32.pt' in message
    assert 'https://huggingface.co/timm/vit_base_patch32_clip_224.openai' \
        in message
    assert "pretrained='/path/to/file'" in message
    # Where it goes in an M3amba config, and the OpenAI activation.
    assert 'model.backbone.foundation_model.pretrained=' in message
    assert 'force_quick_gelu=True' in message
