"""FrozenFoundationModel: sources, freezing, weight files, offline tags."""
import pytest
import torch
from torch import nn

from m3plugins.models.foundation.frozen_foundation_model import (
    FrozenFoundationModel,
    PretrainedWeightsUnavailableError,
)

TINY_TIMM = dict(img_size=28, depth=2)
# A tiny CLIP: 32 px, /8 patches, width 64, 2 blocks, 16-d embedding.
TINY_CLIP = dict(
    vision_cfg=dict(image_size=32, patch_size=8, width=64, layers=2,
                    head_width=32, mlp_ratio=2),
    text_cfg=dict(context_length=8, vocab_size=100, width=32, heads=2,
                  layers=1),
    embed_dim=16)


def tiny_timm(**kwargs):
    return FrozenFoundationModel('timm', 'vit_small_patch14_dinov2',
                                 model_kwargs=TINY_TIMM, **kwargs)


def tiny_clip(**kwargs):
    return FrozenFoundationModel('open_clip', 'ViT-B-32',
                                 model_kwargs=TINY_CLIP, **kwargs)


@pytest.mark.parametrize('builder, attrs', [
    (tiny_timm, dict(embed_dim=384, patch_size=14, num_blocks=2,
                     num_prefix_tokens=1, output_dim=384,
                     image_size=(28, 28))),
    (tiny_clip, dict(embed_dim=64, patch_size=8, num_blocks=2,
                     num_prefix_tokens=1, output_dim=16,
                     image_size=(32, 32))),
])
def test_interface_and_shapes(builder, attrs):
    model = builder()
    for name, value in attrs.items():
        assert getattr(model, name) == value, name
    assert len(model.mean) == 3 and len(model.std) == 3
    patch = model.patch_size
    # encode_image: any size, padded to the patch multiple internally.
    assert model.encode_image(torch.randn(2, 3, 3 * patch - 3,
                                          2 * patch)).shape == \
        (2, attrs['output_dim'])
    # Token path: grid -> tokens with prefix -> blocks -> map.
    x = model.pad_to_patch_multiple(torch.randn(2, 3, 3 * patch - 3,
                                                2 * patch + 1))
    assert x.shape[-2:] == (3 * patch, 3 * patch)
    grid = model.embed_patches(x)
    assert grid.shape == (2, 3, 3, model.embed_dim)
    tokens = model.tokens_from_patches(grid)
    assert tokens.shape == (2, 1 + 9, model.embed_dim)
    tokens = model.forward_blocks(tokens, 0, 1)
    tokens = model.forward_blocks(tokens, 1, 2)
    prefix, patches = model.split_prefix(model.final_norm(tokens))
    assert prefix.shape == (2, 1, model.embed_dim)
    assert model.patches_to_map(patches, (3, 3)).shape == \
        (2, model.embed_dim, 3, 3)
    with pytest.raises(ValueError, match='multiple of the patch size'):
        model.embed_patches(torch.randn(1, 3, patch + 1, patch))
    with pytest.raises(ValueError, match='outside'):
        model.forward_blocks(tokens, 1, 3)


@pytest.mark.parametrize('builder', [tiny_timm, tiny_clip])
def test_token_path_matches_tower_forward(builder):
    """At the native size, the split-up path equals the tower's own forward."""
    model = builder()
    x = torch.randn(2, 3, *model.image_size)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(x), model.tower(x))


@pytest.mark.parametrize('builder', [tiny_timm, tiny_clip])
def test_frozen_and_stays_in_eval(builder):
    parent = nn.Sequential(builder())
    parent.train()
    model = parent[0]
    assert model.training  # the wrapper follows the flag ...
    # ... not the tower
    assert not any(m.training for m in model.tower.modules())
    assert not any(p.requires_grad for p in model.parameters())
    copy = model.make_patch_embed_copy()
    assert all(p.requires_grad for p in copy.parameters())
    x = model.pad_to_patch_multiple(torch.randn(1, 3, 20, 20))
    out = model.forward_blocks(
        model.tokens_from_patches(model.embed_patches(x, copy)))
    out.sum().backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in copy.parameters())
    # No duplicated keys: everything lives under the tower.
    assert all(k.startswith('tower.') for k in model.state_dict())


def test_bad_source_and_unknown_tag():
    with pytest.raises(ValueError, match='source must be one of'):
        FrozenFoundationModel('torchvision', 'vit_b_16')
    with pytest.raises(ValueError, match='known tags'):
        tiny_clip(pretrained='no_such_tag')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        tiny_timm(pretrained='/nonexistent/dinov2.safetensors')


@pytest.mark.parametrize('suffix', ['.safetensors', '.pth'])
def test_timm_local_file(tmp_path, suffix):
    source = tiny_timm()
    state = {k[len('tower.'):]: v for k, v in source.state_dict().items()}
    path = str(tmp_path / f'weights{suffix}')
    if suffix == '.safetensors':
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state.items()}, path)
    else:
        torch.save({'state_dict': state}, path)
    loaded = tiny_timm(pretrained=path)
    x = torch.randn(1, 3, 28, 28)
    torch.testing.assert_close(loaded.encode_image(x), source.encode_image(x))


def test_timm_local_file_mismatch_and_corrupt(tmp_path):
    source = tiny_timm()
    state = {k[len('tower.'):]: v for k, v in source.state_dict().items()}
    state.pop('blocks.1.mlp.fc2.bias')
    state['extra.weight'] = torch.zeros(1)
    path = str(tmp_path / 'bad.pth')
    torch.save(state, path)
    with pytest.raises(ValueError) as info:
        tiny_timm(pretrained=path)
    message = str(info.value)
    assert 'blocks.1.mlp.fc2.bias' in message and 'extra.weight' in message
    corrupt = tmp_path / 'corrupt.safetensors'
    corrupt.write_bytes(b'not a safetensors file')
    with pytest.raises(ValueError, match='Could not read weight file'):
        tiny_timm(pretrained=str(corrupt))


def test_open_clip_local_file(tmp_path):
    import open_clip
    clip = open_clip.create_model('ViT-B-32', pretrained=None, **TINY_CLIP)
    path = str(tmp_path / 'clip.pt')
    torch.save(clip.state_dict(), path)
    loaded = tiny_clip(pretrained=path)
    clip.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(x),
                                   clip.encode_image(x))


def test_timm_tag_offline_names_the_file(monkeypatch):
    import timm.models._builder as builder

    def offline(*args, **kwargs):
        raise ConnectionError('no network')

    monkeypatch.setattr(builder, 'load_pretrained', offline)
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        FrozenFoundationModel('timm', 'vit_small_patch14_dinov2',
                              pretrained='lvd142m',
                              model_kwargs=dict(img_size=28, depth=1))
    message = str(info.value)
    assert 'https://huggingface.co/timm/vit_small_patch14_dinov2.lvd142m' \
        in message
    assert 'dinov2_vits14_pretrain.pth' in message
    assert 'pretrained=' in message


def test_open_clip_tag_offline_names_the_file(monkeypatch):
    import open_clip.factory as factory

    def offline(*args, **kwargs):
        raise ConnectionError('no network')

    monkeypatch.setattr(factory, 'download_pretrained', offline)
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        tiny_clip(pretrained='openai')
    message = str(info.value)
    assert 'https://huggingface.co/timm/vit_base_patch32_clip_224.openai' \
        in message
    assert 'ViT-B-32.pt' in message and 'pretrained=' in message
