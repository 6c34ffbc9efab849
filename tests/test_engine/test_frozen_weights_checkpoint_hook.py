"""FrozenWeightsCheckpointHook: MoBaNet checkpoints without the frozen tower.

The tiny MoBaNet demo trains with its tower loaded from a local weight file
(a named source). Its checkpoints hold everything but the tower; testing
from one (Runner, ``init_model``, ``load_segmentor``) gives the same
outputs, bit for bit, as from a checkpoint saved with ``save_frozen=True``,
and ``--resume`` from one continues exactly as an uninterrupted run. A
random tower (``pretrained=None``) stays in the checkpoint. Runs use the
configs' runner, M3PluginsRunner.
"""
import os.path as osp

import pytest
import torch
from fake_data.isprs_tiles import write_fake_potsdam
from mobanet_helpers import TINY_FOUNDATION, make_batch, tiny_demo_config
from user_error import raises_user_error

from m3plugins.engine import M3PluginsRunner as Runner
from m3plugins.engine.frozen_weights_checkpoint_hook import META_KEY
from m3plugins.models.foundation import (
    FrozenFoundationModel,
    FrozenWeightsSourceError,
)

pytestmark = pytest.mark.slow

TOWER = 'backbone.foundation.tower.'


@pytest.fixture(scope='module', autouse=True)
def fixed_threads():
    """One thread count for every run here: outputs are compared bit for bit.

    The runner's thread policy and ThreadTuningHook pick a count from the
    machine's momentary load unless it is set (or the run deterministic).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('M3PLUGINS_THREADS', str(torch.get_num_threads()))
        yield


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('potsdam'))
    write_fake_potsdam(root, ('2_10', '3_11', '2_13'), size=64,
                       learnable=True)
    weights = str(tmp_path_factory.mktemp('weights') / 'tiny_vit.pth')
    torch.manual_seed(5)
    kwargs = {k: v for k, v in TINY_FOUNDATION.items() if k != 'pretrained'}
    torch.save(FrozenFoundationModel(**kwargs).tower.state_dict(), weights)
    return dict(root=root, weights=weights,
                base=tmp_path_factory.mktemp('runs'))


def _config(setup, name, max_iters=4, pretrained='file', **hook):
    cfg = tiny_demo_config(setup['root'], setup['base'] / name,
                           max_iters=max_iters)
    cfg.model.backbone.foundation_model.pretrained = (
        setup['weights'] if pretrained == 'file' else pretrained)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.train_cfg.val_interval = 4
    cfg.default_hooks.frozen_weights.update(hook)
    return cfg


def _trained(setup, name, **kwargs):
    cfg = _config(setup, name, **kwargs)
    if not osp.isfile(osp.join(cfg.work_dir, 'iter_4.pth')):
        Runner.from_cfg(cfg).train()
    return cfg


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def _logits(model):
    batch = make_batch(batch_size=2, size=(28, 28), seed=3)
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        return model(data['inputs'], data['data_samples'], mode='tensor')


def test_slim_checkpoint_leaves_out_exactly_the_tower(setup):
    slim = _load(osp.join(_trained(setup, 'slim').work_dir, 'iter_4.pth'))
    full = _load(osp.join(_trained(setup, 'full', save_frozen=True)
                          .work_dir, 'iter_4.pth'))
    tower_keys = {k for k in full['state_dict'] if k.startswith(TOWER)}
    assert tower_keys
    assert set(full['state_dict']) - set(slim['state_dict']) == tower_keys
    entry = slim['meta'][META_KEY]['backbone.foundation']
    assert entry['left_out'] and entry['num_tensors'] == len(tower_keys)
    assert entry['source']['path'] == setup['weights']
    assert not full['meta'][META_KEY]['backbone.foundation']['left_out']
    # The optimizer state covers the trainable parameters only.
    states = slim['optimizer']['state']
    trainable = [k for k in slim['state_dict']
                 if not k.startswith('data_preprocessor')]
    assert 0 < len(states) <= len(trainable)
    for key, value in slim['state_dict'].items():
        assert torch.equal(value, full['state_dict'][key]), key


def test_test_outputs_from_slim_equal_full_bit_for_bit(setup):
    from mmseg.apis import init_model

    from m3plugins.apis.large_scene_inference import load_segmentor
    slim_cfg = _trained(setup, 'slim')
    full_cfg = _trained(setup, 'full', save_frozen=True)
    slim = osp.join(slim_cfg.work_dir, 'iter_4.pth')
    full = osp.join(full_cfg.work_dir, 'iter_4.pth')
    config = _config(setup, 'test_cfg', pretrained=None)
    reference = _logits(init_model(config, full, device='cpu'))
    for model in (init_model(config, slim, device='cpu'),
                  load_segmentor(config, slim, device='cpu')):
        assert torch.equal(_logits(model), reference)
    metrics = []
    for name, checkpoint in (('test_slim', slim), ('test_full', full)):
        cfg = _config(setup, name, pretrained=None)
        cfg.load_from = checkpoint
        metrics.append(Runner.from_cfg(cfg).test())
    assert metrics[0] == metrics[1]


def test_missing_source_is_a_user_error_naming_file_and_hash(setup,
                                                             tmp_path):
    slim_cfg = _trained(setup, 'slim')
    checkpoint = _load(osp.join(slim_cfg.work_dir, 'iter_4.pth'))
    moved = tmp_path / 'iter_4.pth'
    record = checkpoint['meta'][META_KEY]['backbone.foundation']['source']
    metadata = checkpoint['state_dict']._metadata
    metadata['backbone.foundation']['frozen_weights_source'] = dict(
        record, pretrained=str(tmp_path / 'gone.pth'),
        path=str(tmp_path / 'gone.pth'))
    torch.save(checkpoint, moved)
    cfg = _config(setup, 'test_missing', pretrained=None)
    cfg.load_from = str(moved)
    with raises_user_error(FrozenWeightsSourceError,
                           f'gone.pth.*{record["sha256"]}'):
        Runner.from_cfg(cfg).test()


def test_resume_from_slim_checkpoints_is_exact(setup):
    uninterrupted = _load(osp.join(_trained(setup, 'slim').work_dir,
                                   'iter_4.pth'))
    first = _config(setup, 'resumed', max_iters=2)
    Runner.from_cfg(first).train()
    assert not any(k.startswith(TOWER) for k in _load(
        osp.join(first.work_dir, 'iter_2.pth'))['state_dict'])
    second = _config(setup, 'resumed', max_iters=4)
    second.resume = True
    runner = Runner.from_cfg(second)
    runner.train()
    resumed = _load(osp.join(second.work_dir, 'iter_4.pth'))
    assert set(resumed['state_dict']) == set(uninterrupted['state_dict'])
    for key, value in uninterrupted['state_dict'].items():
        assert torch.equal(resumed['state_dict'][key], value), key
    record = runner.model.backbone.foundation.frozen_weights_record()
    assert record is not None and record.path == setup['weights']


def test_random_tower_stays_in_the_checkpoint(setup):
    cfg = _trained(setup, 'random', pretrained=None)
    checkpoint = _load(osp.join(cfg.work_dir, 'iter_4.pth'))
    entry = checkpoint['meta'][META_KEY]['backbone.foundation']
    assert not entry['left_out'] and entry['source'] is None
    assert sum(k.startswith(TOWER) for k in checkpoint['state_dict']) == \
        entry['num_tensors'] > 0
    assert 'frozen_weights_source' not in \
        checkpoint['state_dict']._metadata['backbone.foundation']
