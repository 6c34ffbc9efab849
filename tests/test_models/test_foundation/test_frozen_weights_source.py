"""Frozen towers left out of state dicts and re-attached from their source.

A tower loaded from a weight file is dropped from the state dict with its
source and hash in the metadata; loading puts it back from the file, hash
checked, under torch's and mmengine's loaders. Random towers, towers that
no longer equal their source and ``keep=True`` keep every tensor.
"""
import io
import os

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from torch import nn

from m3plugins.models.foundation import (
    FrozenFoundationModel,
    FrozenWeightsSourceError,
    leave_out_frozen_weights,
    tensors_sha256,
)

TINY_TIMM = dict(source='timm', name='vit_small_patch14_dinov2',
                 model_kwargs=dict(img_size=28, depth=2, embed_dim=32,
                                   num_heads=2))
TINY_CLIP = dict(source='open_clip', name='ViT-B-32', model_kwargs=dict(
    vision_cfg=dict(image_size=32, patch_size=16, width=32, layers=1,
                    head_width=16, mlp_ratio=2),
    text_cfg=dict(context_length=8, vocab_size=64, width=16, heads=2,
                  layers=1),
    embed_dim=24))


class _Net(nn.Module):
    """A trainable head beside a frozen tower, as the real models."""

    def __init__(self, tower_kwargs, pretrained=None, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.foundation = FrozenFoundationModel(pretrained=pretrained,
                                                **tower_kwargs)
        self.head = nn.Linear(self.foundation.output_dim, 3)

    def forward(self, x):
        return self.head(self.foundation(x))


def _weight_file(tmp_path, tower_kwargs, seed=123, name='tower.pth'):
    """A weight file as the source's loader reads it (timm or CLIP)."""
    torch.manual_seed(seed)
    if tower_kwargs['source'] == 'timm':
        state = FrozenFoundationModel(**tower_kwargs).tower.state_dict()
    else:
        import open_clip
        state = open_clip.create_model(
            tower_kwargs['name'], **tower_kwargs['model_kwargs']).state_dict()
    path = tmp_path / name
    torch.save(state, path)
    return str(path)


def _saved_and_loaded(state_dict):
    """The state dict through torch.save / weights-only torch.load."""
    buffer = io.BytesIO()
    torch.save(dict(state_dict=state_dict), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)['state_dict']


def _image(tower_kwargs):
    size = 28 if tower_kwargs['source'] == 'timm' else 32
    return torch.rand(2, 3, size, size, generator=torch.Generator()
                      .manual_seed(7))


@pytest.mark.parametrize('tower_kwargs', [TINY_TIMM, TINY_CLIP])
def test_slim_state_dict_drops_exactly_the_sourced_tower(tmp_path,
                                                         tower_kwargs):
    path = _weight_file(tmp_path, tower_kwargs)
    net = _Net(tower_kwargs, pretrained=path)
    full = net.state_dict()
    tower_keys = {'foundation.' + k
                  for k in net.foundation.state_dict()}
    slim = net.state_dict()
    summary = leave_out_frozen_weights(net, slim)
    assert set(full) - set(slim) == tower_keys
    assert set(slim) == {'head.weight', 'head.bias'}
    entry = summary['foundation']
    assert entry['left_out'] and entry['num_tensors'] == len(tower_keys)
    assert entry['source']['path'] == os.path.abspath(path)
    assert entry['source']['sha256'] == tensors_sha256(
        net.foundation.tower.state_dict())
    assert slim._metadata['foundation']['frozen_weights_source'] == \
        entry['source']


@pytest.mark.parametrize('tower_kwargs', [TINY_TIMM, TINY_CLIP])
def test_load_reattaches_and_outputs_are_identical(tmp_path, tower_kwargs):
    path = _weight_file(tmp_path, tower_kwargs)
    net = _Net(tower_kwargs, pretrained=path).eval()
    slim = net.state_dict()
    leave_out_frozen_weights(net, slim)
    slim = _saved_and_loaded(slim)
    image = _image(tower_kwargs)
    expected = net(image)
    # torch's own loader, strict: no missing key, the tower from the file.
    random_net = _Net(tower_kwargs, seed=1).eval()
    assert not torch.equal(random_net(image), expected)
    random_net.load_state_dict(slim, strict=True)
    assert torch.equal(random_net(image), expected)
    assert random_net.foundation.frozen_weights_record() == \
        net.foundation.frozen_weights_record()
    # mmengine's loader (load_from, resume, tools/test.py, init_model).
    other = _Net(tower_kwargs, seed=2).eval()
    _load_checkpoint_to_model(other, dict(state_dict=slim))
    for key, value in net.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key
    assert torch.equal(other(image), expected)


def test_missing_source_names_the_file_and_hash(tmp_path):
    path = _weight_file(tmp_path, TINY_TIMM)
    net = _Net(TINY_TIMM, pretrained=path)
    sha = net.foundation.weights_sha256()
    slim = net.state_dict()
    leave_out_frozen_weights(net, slim)
    os.remove(path)
    with pytest.raises(FrozenWeightsSourceError) as info:
        _Net(TINY_TIMM, seed=1).load_state_dict(slim)
    message = str(info.value)
    assert path in message and sha in message and 'does not exist' in message


def test_different_source_names_both_hashes(tmp_path):
    path = _weight_file(tmp_path, TINY_TIMM)
    net = _Net(TINY_TIMM, pretrained=path)
    sha = net.foundation.weights_sha256()
    slim = net.state_dict()
    leave_out_frozen_weights(net, slim)
    _weight_file(tmp_path, TINY_TIMM, seed=999)  # replaced in place
    other = _Net(TINY_TIMM, seed=1)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(FrozenWeightsSourceError) as info:
        other.load_state_dict(slim)
    message = str(info.value)
    assert path in message and sha in message and 'other weights' in message
    found = tensors_sha256(_Net(TINY_TIMM, pretrained=path).foundation
                           .tower.state_dict())
    assert found in message
    for key, value in other.state_dict().items():  # nothing was loaded
        assert torch.equal(value, before[key]), key


def test_random_tower_and_keep_stay_in_the_state_dict(tmp_path):
    random_net = _Net(TINY_TIMM)
    state = random_net.state_dict()
    summary = leave_out_frozen_weights(random_net, state)
    assert set(state) == set(random_net.state_dict())
    assert summary['foundation'] == dict(
        left_out=False, num_tensors=len(random_net.foundation.state_dict()),
        num_bytes=summary['foundation']['num_bytes'], source=None)
    sourced = _Net(TINY_TIMM, pretrained=_weight_file(tmp_path, TINY_TIMM))
    state = sourced.state_dict()
    summary = leave_out_frozen_weights(sourced, state, keep=True)
    assert set(state) == set(sourced.state_dict())
    assert not summary['foundation']['left_out']
    assert summary['foundation']['source'] is not None


def test_changed_tower_is_no_longer_its_source(tmp_path):
    net = _Net(TINY_TIMM, pretrained=_weight_file(tmp_path, TINY_TIMM))
    assert net.foundation.frozen_weights_record() is not None
    with torch.no_grad():
        next(net.foundation.tower.parameters()).add_(1.)
    assert net.foundation.frozen_weights_record() is None
    state = net.state_dict()
    leave_out_frozen_weights(net, state)
    assert set(state) == set(net.state_dict())


def test_deferred_load_records_the_source(tmp_path):
    """MoBaNet builds the tower random and loads the file in init_weights."""
    path = _weight_file(tmp_path, TINY_TIMM)
    tower = FrozenFoundationModel(**TINY_TIMM)
    assert tower.frozen_weights_record() is None
    tower.load_pretrained(path)
    record = tower.frozen_weights_record()
    assert record is not None and record.path == os.path.abspath(path)


def test_relative_source_is_found_from_another_directory(tmp_path,
                                                         monkeypatch):
    _weight_file(tmp_path, TINY_TIMM)
    monkeypatch.chdir(tmp_path)
    net = _Net(TINY_TIMM, pretrained='./tower.pth')
    slim = net.state_dict()
    leave_out_frozen_weights(net, slim)
    monkeypatch.chdir(tmp_path.parent)
    other = _Net(TINY_TIMM, seed=1)
    other.load_state_dict(slim, strict=True)
    for key, value in net.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key


def test_sha256_is_order_free_and_sees_every_byte():
    state = dict(a=torch.arange(6.).reshape(2, 3), b=torch.ones(2))
    swapped = dict(b=state['b'], a=state['a'])
    assert tensors_sha256(state) == tensors_sha256(swapped)
    changed = dict(state, b=torch.tensor([1., 1.0000001]))
    assert tensors_sha256(changed) != tensors_sha256(state)
    reshaped = dict(state, a=state['a'].reshape(3, 2))
    assert tensors_sha256(reshaped) != tensors_sha256(state)
    assert tensors_sha256(dict(state, a=state['a'].t().contiguous().t())) \
        == tensors_sha256(state)
