"""tools/model_converters/m3amba2m3plugins.py: official M3amba in, ours out.

The official file is generated from a tiny M3amba (2 layers, width 16,
tiny local CLIP tower) in the layout of kaka-Cao/M3amba at commit
5efde13e3ca0d80473f61e789e375bed641fbfe7: ``test.py`` loads ``model_dict``
(the state dict of ``VSSM``, ``net/net_vmamba_v4.py``) and ``conv_hsi`` /
``conv_lidar`` from one file. Every official name below is written out from
those definitions (the constants say where each comes from), not from the
converter's table, so a wrong name in the table fails here.
"""
import copy
import importlib.util
import os.path as osp
import runpy
import sys

import pytest
import torch
from mmengine.config import Config
from repo_root import REPO_ROOT

from m3plugins.utils.output_paths import OutputOverwriteError

FOLDER = osp.join(REPO_ROOT, 'tools/model_converters')
TOOL = 'm3amba2m3plugins.py'

# --- Official names, kaka-Cao/M3amba @ 5efde13e3ca0d80473f61e789e375bed641f
# test.py: torch.load(save_weights_path)['model_dict'] into VSSM,
# ['conv_hsi'] / ['conv_lidar'] into nn.Conv2d(C, 3, 1, 1, 0).
CHECKPOINT_ENTRIES = ('model_dict', 'conv_hsi', 'conv_lidar')
# net/net_vmamba_v4.py, VSSM.__init__ (self.<name> = ...).
VSSM_CLIP = ('linear_hsi', 'linear_lidar', 'conv_hsi', 'conv_lidar')
VSSM_PATCH_EMBEDS = ('patch_embed_hsi', 'patch_embed_lidar',
                     'patch_embed_hsi_clip', 'patch_embed_lidar_clip')
VSSM_LAYERS = ('layers_x', 'layers_y', 'layers_z')  # ModuleList of depths=[9]
VSSM_CLASSIFIERS = ('classifier_hsi', 'classifier_lidar', 'classifier_add')
# VSSM._make_patch_embed: nn.Sequential(Conv2d, Permute, norm_layer).
PATCH_EMBED_CONV, PATCH_EMBED_NORM = '0', '2'
# classifier_*: nn.Sequential(OrderedDict(norm=..., permute=..., head=...)).
CLASSIFIER_NORM, CLASSIFIER_HEAD = 'norm', 'head'
# VSSBlock / VSSBlock_add.__init__: self.norm, self.op, self.norm2, self.mlp
# (Mlp: self.fc1, self.fc2).
BLOCK_PARTS = ('norm', 'norm2', 'mlp.fc1', 'mlp.fc2')
# SS2Dv2.__initv2__ and SS2Dv2_add.__initv2add__ (bias=False,
# conv_bias=True, LayerNorm out_norm): in_proj, conv2d, out_norm, out_proj.
SS2D_STEM = ('in_proj.weight', 'conv2d.weight', 'conv2d.bias',
             'out_norm.weight', 'out_norm.bias', 'out_proj.weight')
# SS2Dv2_add (layers_z): x_proj_weight, dt_projs_weight, dt_projs_bias,
# A_logs, Ds; SS2Dv2 (layers_x, layers_y): each with _hsi and _lidar.
SCAN_PARAMS = ('x_proj_weight', 'dt_projs_weight', 'dt_projs_bias', 'A_logs',
               'Ds')
CROSS_SUFFIXES = ('_hsi', '_lidar')


def _helpers():
    """tests/test_models/test_m3amba/m3amba_helpers.py (the tiny M3amba)."""
    if 'm3amba_helpers' not in sys.modules:
        path = osp.join(REPO_ROOT, 'tests/test_models/test_m3amba/'
                        'm3amba_helpers.py')
        spec = importlib.util.spec_from_file_location('m3amba_helpers', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules['m3amba_helpers'] = module
    return sys.modules['m3amba_helpers']


def official_layout(state, depth):
    """Our tiny model's tensors under the official names (test.py's file)."""
    model_dict, outer = {}, {}
    for official, ours in (('hsi', 'hsi'), ('lidar', 'lidar')):
        adapter = f'backbone.clip_adapters.{ours}.'
        for name in ('weight', 'bias'):
            outer[f'conv_{official}.{name}'] = \
                state[f'{adapter}tower_adapter.{name}']
            model_dict[f'linear_{official}.{name}'] = \
                state[f'{adapter}embedding_to_grid.{name}']
            model_dict[f'conv_{official}.{name}'] = \
                state[f'{adapter}grid_to_channels.{name}']
            for part, mine in ((PATCH_EMBED_CONV, 'proj'),
                               (PATCH_EMBED_NORM, 'norm')):
                model_dict[f'patch_embed_{official}_clip.{part}.{name}'] = \
                    state[f'{adapter}patch_embed.{mine}.{name}']
                model_dict[f'patch_embed_{official}.{part}.{name}'] = \
                    state[f'backbone.patch_embeds.{ours}.{mine}.{name}']
            classifier = f'decode_head.modality_classifiers.{ours}.'
            model_dict[f'classifier_{official}.{CLASSIFIER_NORM}.{name}'] = \
                state[f'{classifier}norm.{name}']
            model_dict[f'classifier_{official}.{CLASSIFIER_HEAD}.{name}'] = \
                state[f'{classifier}conv.{name}']
        for name, mine in ((CLASSIFIER_NORM, 'fused_norm'),
                           (CLASSIFIER_HEAD, 'conv_seg')):
            model_dict[f'classifier_add.{name}.weight'] = \
                state[f'decode_head.{mine}.weight']
            model_dict[f'classifier_add.{name}.bias'] = \
                state[f'decode_head.{mine}.bias']
    for i in range(depth):
        blocks = ((f'layers_x.0.{i}.', f'neck.cross_blocks.{i}.0.'),
                  (f'layers_y.0.{i}.', f'neck.cross_blocks.{i}.1.'),
                  (f'layers_z.0.{i}.', f'neck.fusion_blocks.{i}.'))
        for official, ours in blocks:
            for part in BLOCK_PARTS:
                for name in ('weight', 'bias'):
                    model_dict[f'{official}{part}.{name}'] = \
                        state[f'{ours}{part}.{name}']
            for part in SS2D_STEM:
                model_dict[f'{official}op.{part}'] = state[f'{ours}op.stem.'
                                                           f'{part}']
        for official, ours in blocks[:2]:
            for param in SCAN_PARAMS:
                for suffix, mine in zip(CROSS_SUFFIXES,
                                        ('scan_params_x',
                                         'scan_params_guide')):
                    model_dict[f'{official}op.{param}{suffix}'] = \
                        state[f'{ours}op.{mine}.{param}']
        for param in SCAN_PARAMS:
            model_dict[f'{blocks[2][0]}op.{param}'] = \
                state[f'{blocks[2][1]}op.scan_params.{param}']
    # Names only from the official definitions above.
    tops = VSSM_CLIP + VSSM_PATCH_EMBEDS + VSSM_LAYERS + VSSM_CLASSIFIERS
    assert {k.split('.')[0] for k in model_dict} == set(tops)
    return {'model_dict': {'module.' + k: v for k, v in model_dict.items()},
            **{entry: {k.split('.', 1)[1]: v for k, v in outer.items()
                       if k.startswith(entry + '.')}
               for entry in CHECKPOINT_ENTRIES[1:]}}


@pytest.fixture
def official(tmp_path):
    """A tiny CLIP file, a Trento config of the tiny M3amba, its file."""
    import open_clip
    helpers = _helpers()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest
    torch.manual_seed(1)
    clip = open_clip.create_model('ViT-B-32', pretrained=None,
                                  **copy.deepcopy(helpers.TINY_CLIP_KWARGS))
    clip_file = str(tmp_path / 'tiny_clip.pt')
    torch.save(clip.state_dict(), clip_file)
    model_cfg = helpers.tiny_model_cfg()
    model_cfg.decode_head.num_classes = 6  # Trento
    model_cfg.backbone.foundation_model.pretrained = clip_file
    config = str(tmp_path / 'm3amba_tiny_trento.py')
    scene = dict(type='Trento', modalities=('hsi', 'lidar'),
                 normalization='minmax')
    Config(dict(model=model_cfg.to_dict(),
                test_dataloader=dict(dataset=dict(scene=scene)))).dump(config)
    torch.manual_seed(3)
    model = helpers.build(Config.fromfile(config).model).eval()
    with torch.no_grad():  # no tensor keeps its default (LN 1 / 0, D 1)
        for name, param in model.named_parameters():
            if not name.startswith('backbone.tower.'):
                param.add_(torch.randn_like(param) * 0.05)
    layout = official_layout(model.state_dict(), depth=2)
    path = tmp_path / 'best_weights.pth'
    torch.save(layout, path)
    yield dict(model=model, path=path, layout=layout, config=config)
    torch.set_num_threads(threads)


def _run(monkeypatch, *args):
    monkeypatch.syspath_prepend(FOLDER)
    monkeypatch.setattr('sys.argv', [TOOL, *map(str, args)])
    return runpy.run_path(osp.join(FOLDER, TOOL))['main']()


def _logits(model):
    torch.manual_seed(4)
    inputs = torch.rand(2, 7, 8, 6)
    with torch.no_grad():
        return model(inputs, mode='tensor')


def test_official_m3amba_converts_exactly(official, tmp_path, monkeypatch):
    out = tmp_path / 'converted.pth'
    args = (official['path'], out, '--dataset', 'Trento', '--config',
            official['config'])
    assert _run(monkeypatch, *args) == 0
    checkpoint = torch.load(out, weights_only=True)
    meta = checkpoint['meta']
    contract = meta['dataset_meta']
    assert len(contract['classes']) == 6
    assert [(m['name'], m['bands']) for m in contract['modalities']] == \
        [('hsi', 5), ('lidar', 2)]
    assert tuple(contract['tile_size']) == (8, 6)
    assert meta['converted_from']['cfg_options'] == {
        'model.backbone.normalize_for_tower': False}
    state = checkpoint['state_dict']
    assert not any(k.startswith('backbone.tower.') for k in state)
    assert meta['frozen_weights']['backbone.tower']['left_out']

    torch.manual_seed(11)
    fresh = _helpers().build(Config.fromfile(official['config']).model)
    fresh.eval()
    assert not torch.equal(_logits(fresh), _logits(official['model']))
    result = fresh.load_state_dict(state)  # the tower re-attaches
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in official['model'].state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert torch.equal(_logits(fresh), _logits(official['model']))

    # Refused: an existing output without --overwrite, and the input.
    with pytest.raises(OutputOverwriteError, match='converted.pth'):
        _run(monkeypatch, *args)
    with pytest.raises(OutputOverwriteError, match='best_weights.pth'):
        _run(monkeypatch, official['path'], official['path'], '--overwrite',
             *args[2:])
    assert _run(monkeypatch, *args, '--overwrite') == 0


def test_unknown_missing_and_foreign_files_are_refused(official, tmp_path,
                                                       monkeypatch):
    layout = official['layout']
    unknown = copy.deepcopy(layout)
    unknown['model_dict']['layers_x.0.0.op.x_proj_bias_hsi'] = torch.zeros(1)
    missing = copy.deepcopy(layout)
    del missing['model_dict']['module.layers_z.0.1.op.Ds']
    no_adapter = {k: v for k, v in layout.items() if k != 'conv_lidar'}
    deeper = copy.deepcopy(layout)
    deeper['model_dict']['layers_x.1.0.norm.weight'] = torch.ones(16)
    for name, content, message in (
            ('unknown', unknown, 'not in the official M3amba layout.*'
             'layers_x.0.0.op.x_proj_bias_hsi'),
            ('missing', missing, 'missing neck.fusion_blocks.1.op.'
             'scan_params.Ds'),
            ('no_adapter', no_adapter, 'missing backbone.clip_adapters.'
             'lidar.tower_adapter'),
            ('deeper', deeper, 'layers_x.1.0.norm.weight'),
            ('bare', layout['model_dict'], 'no model_dict entry')):
        path = tmp_path / f'{name}.pth'
        torch.save(content, path)
        with pytest.raises(SystemExit, match=message):
            _run(monkeypatch, path, tmp_path / 'never.pth', '--dataset',
                 'Trento', '--config', official['config'])
        assert not (tmp_path / 'never.pth').exists()
    with pytest.raises(SystemExit, match='config of Trento, not of '
                       '--dataset MUUFL'):
        _run(monkeypatch, official['path'], tmp_path / 'never.pth',
             '--dataset', 'MUUFL', '--config', official['config'])
