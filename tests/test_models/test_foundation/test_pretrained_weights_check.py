"""Tower weights are checked from the config, before anything is built.

Offline (``HF_HUB_OFFLINE=1``, no network touched): a missing local file
and a hub tag that is not in the cache are named with the config key; a
file that exists, a cached tag and random weights pass.
"""
import pytest
import torch

from m3plugins.models.foundation.weight_files import (
    PretrainedWeightsUnavailableError,
    check_config_pretrained_weights,
    pretrained_weights_problem,
)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')


def _model(pretrained, source='timm', name='vit_small_patch14_dinov2',
           **extra):
    return dict(type='MoBaNetSegmentor', backbone=dict(
        type='MoBaNetBackbone', foundation_model=dict(
            source=source, name=name, pretrained=pretrained, **extra)))


def test_random_and_existing_file_pass(tmp_path):
    weights = tmp_path / 'tower.pth'
    torch.save({'w': torch.zeros(1)}, weights)
    check_config_pretrained_weights(_model(None))
    check_config_pretrained_weights(_model(str(weights)))
    check_config_pretrained_weights(_model(str(weights), 'open_clip',
                                           'ViT-B-32'))


def test_missing_file_is_named_with_its_config_key(tmp_path):
    missing = str(tmp_path / 'dinov2_vits14.pth')
    with pytest.raises(PretrainedWeightsUnavailableError,
                       match=r"model\.backbone\.foundation_model\.pretrained"
                       rf"='{missing}': The timm weight file .* does not "
                       r'exist'):
        check_config_pretrained_weights(_model(missing))


def test_towers_in_lists_are_found(tmp_path):
    model = dict(backbone=[dict(), dict(foundation_model=dict(
        pretrained='nowhere/clip.bin', source='open_clip'))])
    with pytest.raises(PretrainedWeightsUnavailableError,
                       match=r'model\.backbone\[1\]\.foundation_model'):
        check_config_pretrained_weights(model)


def test_uncached_timm_tag_names_the_file_to_fetch(tmp_path):
    with pytest.raises(PretrainedWeightsUnavailableError,
                       match=r"pretrained='lvd142m': Could not download timm "
                       r"weights 'vit_small_patch14_dinov2\.lvd142m' .*"
                       r'HF_HUB_OFFLINE.*huggingface\.co/timm/'
                       r'vit_small_patch14_dinov2\.lvd142m'):
        check_config_pretrained_weights(
            _model('lvd142m', cache_dir=str(tmp_path)))


def test_default_tag_of_pretrained_true(tmp_path):
    problem = pretrained_weights_problem(
        'timm', 'vit_small_patch14_dinov2.lvd142m', True, str(tmp_path))
    assert 'vit_small_patch14_dinov2.lvd142m' in problem


def test_uncached_open_clip_tag(tmp_path):
    problem = pretrained_weights_problem('open_clip', 'ViT-B-32', 'openai',
                                         str(tmp_path))
    assert "open_clip weights 'ViT-B-32' / 'openai'" in problem
    assert 'timm/vit_base_patch32_clip_224.openai' in problem


def test_cached_tag_passes(tmp_path):
    """A tag in the Hugging Face cache layout loads offline: no error."""
    repo = tmp_path / 'models--timm--vit_small_patch14_dinov2.lvd142m'
    revision = 'a' * 40
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text(revision)
    snapshot = repo / 'snapshots' / revision
    snapshot.mkdir(parents=True)
    (snapshot / 'model.safetensors').write_bytes(b'weights')
    assert pretrained_weights_problem(
        'timm', 'vit_small_patch14_dinov2', 'lvd142m', str(tmp_path)) is None


def test_unknown_timm_tag_gets_the_builds_message(tmp_path):
    problem = pretrained_weights_problem(
        'timm', 'vit_small_patch14_dinov2', 'no_such_tag', str(tmp_path))
    assert "timm has no weights 'vit_small_patch14_dinov2.no_such_tag'" \
        in problem
