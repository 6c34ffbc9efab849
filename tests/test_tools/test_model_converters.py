"""tools/model_converters: official MoBaNet layout in, m3plugins out.

The official state dict is generated from a tiny MoBaNet in the key layout
of sauryeo/MoBaNet (``MMNet`` with ``DinoV2DualEncoder``, ``CPIABlock``,
the released gate, ``UperNetHead`` and ``AuxHead``, MMNet.py at
1ae0e7ef24b2f7df794ef579ad4a2b4ee8bdc739), each official name written out
from those class definitions.
"""
import os.path as osp
import runpy

import pytest
import torch
from mmseg.registry import MODELS
from mobanet_helpers import make_batch, tiny_model_cfg
from repo_root import REPO_ROOT

from m3plugins.utils.output_paths import OutputOverwriteError

FOLDER = osp.join(REPO_ROOT, 'tools/model_converters')
BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def official_layout(state, stages=4):
    """Our tiny model's tensors under the official MoBaNet names."""
    out = {'image_encoder.backbone.mask_token': torch.zeros(1, 64)}
    tower = 'backbone.foundation.tower.'
    for key, value in state.items():
        if key.startswith(tower):
            out['image_encoder.backbone.' + key[len(tower):]] = value
    for name in ('weight', 'bias'):
        out[f'image_encoder.extra_patch_embed.proj.{name}'] = \
            state[f'backbone.dsm_patch_embed.proj.{name}']
    for i in range(stages):
        cpia, ours = f'image_encoder.peft_cpia_blocks.{i}.', \
            f'backbone.cpia.{i}.'
        for official, mine in (('D_fc1', 'down_a'), ('D_fc2', 'down_b'),
                               ('P_fc2', 'fuse'), ('U_fc1', 'up')):
            for name in ('weight', 'bias'):
                out[f'{cpia}{official}.{name}'] = state[f'{ours}{mine}.{name}']
        for official, mine in (('gamma_rgb', 'gamma_a'), ('beta_rgb',
                                                          'beta_a'),
                               ('gamma_dsm', 'gamma_b'), ('beta_dsm',
                                                          'beta_b')):
            out[f'{cpia}tfts_{official}'] = state[ours + mine]
        bagf, gate = f'image_encoder.peft_bagf_blocks.{i}.', \
            f'neck.gates.{i}.'
        out[bagf + 'rgb_reduce.weight'] = state[gate + 'reduce_rgb.weight']
        out[bagf + 'dsm_reduce.weight'] = state[gate + 'reduce_dsm.weight']
        for name in ('0.weight', '1.weight', '1.bias', '3.weight', '3.bias'):
            out[f'{bagf}gate_net.{name}'] = state[f'{gate}gate.{name}']
        for name in ('weight', 'bias'):
            out[f'image_encoder.peft_fuse_norms.{i}.{name}'] = \
                state[f'neck.fuse_norms.{i}.{name}']
        out[f'image_encoder.dual_proj_layers.{i}.weight'] = \
            state[f'neck.projections.{i}.0.weight']
    for key, value in state.items():
        if key.startswith('decode_head.'):
            out['decoder.' + key[len('decode_head.'):]] = value
    for index, stream in enumerate(('rgb', 'dsm')):
        ours = f'auxiliary_head.{index}.'
        out[f'aux_head_{stream}.conv.0.weight'] = \
            state[ours + 'conv.conv.weight']
        for name in BN:
            out[f'aux_head_{stream}.conv.1.{name}'] = \
                state[f'{ours}conv.bn.{name}']
        out[f'aux_head_{stream}.conv_out.0.weight'] = \
            state[ours + 'conv_seg.weight']
    return out


def _model(seed):
    torch.manual_seed(seed)
    return MODELS.build(tiny_model_cfg()).eval()


def _logits(model):
    batch = make_batch(batch_size=2, size=(28, 28), seed=4)
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        return model(data['inputs'], data['data_samples'], mode='tensor')


def _run(monkeypatch, tool, *args):
    monkeypatch.syspath_prepend(FOLDER)
    monkeypatch.setattr('sys.argv', [tool, *map(str, args)])
    return runpy.run_path(osp.join(FOLDER, tool))['main']()


@pytest.fixture
def official(tmp_path):
    model = _model(seed=3)
    for module in model.modules():  # BN statistics that are not defaults
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    state = model.state_dict()
    layout = official_layout(state)
    path = tmp_path / 'official.pth'
    torch.save({'module.' + k: v for k, v in layout.items()}, path)
    return dict(model=model, path=path, layout=layout)


def test_mobanet_official_checkpoint_converts_exactly(official, tmp_path,
                                                      monkeypatch):
    out = tmp_path / 'converted.pth'
    assert _run(monkeypatch, 'mobanet2m3plugins.py', official['path'],
                out) == 0
    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint['meta']['dataset_meta']['classes'][0] == \
        'impervious_surfaces'
    fresh = _model(seed=11)
    assert not torch.equal(_logits(fresh), _logits(official['model']))
    result = fresh.load_state_dict(checkpoint['state_dict'], strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(_logits(fresh), _logits(official['model']))
    # Refused: an existing output without --overwrite, and the input.
    with pytest.raises(OutputOverwriteError, match='converted.pth'):
        _run(monkeypatch, 'mobanet2m3plugins.py', official['path'], out)
    with pytest.raises(OutputOverwriteError, match='official.pth'):
        _run(monkeypatch, 'mobanet2m3plugins.py', official['path'],
             official['path'], '--overwrite')
    assert _run(monkeypatch, 'mobanet2m3plugins.py', official['path'], out,
                '--overwrite', '--dataset', 'ISPRSVaihingen') == 0


def test_mobanet_unknown_and_pre_release_keys_are_refused(official,
                                                          tmp_path,
                                                          monkeypatch):
    for extra, message in (
            ('image_encoder.peft_bagf_blocks.0.edge_encoder.0.weight',
             'pre-release'),
            ('image_encoder.fpn1x.0.weight', 'not in the official')):
        path = tmp_path / 'odd.pth'
        torch.save(dict(official['layout'], **{extra: torch.zeros(1)}),
                   path)
        with pytest.raises(SystemExit, match=message):
            _run(monkeypatch, 'mobanet2m3plugins.py', path,
                 tmp_path / 'never.pth')
        assert not (tmp_path / 'never.pth').exists()


def test_stamp_data_contract_adds_it_and_keeps_weights(tmp_path,
                                                       monkeypatch):
    model = _model(seed=5)
    foreign = tmp_path / 'foreign.pth'
    torch.save(dict(state_dict=model.state_dict()), foreign)
    out = tmp_path / 'stamped.pth'
    assert _run(monkeypatch, 'stamp_data_contract.py', foreign, out,
                '--dataset', 'Houston2013', '--tile-size', 32, 32) == 0
    stamped = torch.load(out, weights_only=True)
    meta = stamped['meta']['dataset_meta']
    assert len(meta['classes']) == 15 and tuple(meta['tile_size']) == (32,
                                                                       32)
    assert list(meta['modalities']) and 'hsi' in str(meta['modalities'])
    for key, value in model.state_dict().items():
        assert torch.equal(stamped['state_dict'][key], value), key
    with pytest.raises(SystemExit, match='already has a data contract'):
        _run(monkeypatch, 'stamp_data_contract.py', out,
             tmp_path / 'again.pth', '--dataset', 'ISPRSPotsdam')
    with pytest.raises(SystemExit, match='one of: .*ISPRSPotsdam'):
        _run(monkeypatch, 'stamp_data_contract.py', foreign,
             tmp_path / 'x.pth', '--dataset', 'Potsdam')
