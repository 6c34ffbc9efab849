"""Convert an official M3amba checkpoint into an m3plugins checkpoint.

M3amba (Cao et al., arXiv 2503.06446); official code kaka-Cao/M3amba at
commit 5efde13e3ca0d80473f61e789e375bed641fbfe7. Its ``test.py`` reads a
file holding ``model_dict``, the state dict of ``VSSM``
(``net/net_vmamba_v4.py``), and ``conv_hsi`` / ``conv_lidar``, the
``C -> 3`` convs in front of CLIP (outside the net); a bare ``VSSM`` state
dict lacks the latter and is refused. Keys may carry ``module.``. Official
key -> m3plugins key (``M3amba`` of ``configs/m3amba/*.py``; A and B are the
config's first and second modality, hsi and lidar, or hsi and sar for
Augsburg)::

    conv_hsi.<k> / conv_lidar.<k>           backbone.clip_adapters.A / .B.
                                            tower_adapter.<k>
    model_dict.
      linear_hsi / _lidar                   backbone.clip_adapters.A / .B.
                                            embedding_to_grid
      conv_hsi / _lidar                     ... grid_to_channels
      patch_embed_hsi_clip.0 / .2 (_lidar)  ... patch_embed.proj / .norm
      patch_embed_hsi.0 / .2 (_lidar)       backbone.patch_embeds.A (B).
                                            proj / norm
      layers_x.0.i. / layers_y.0.i.         neck.cross_blocks.i.0. / .1.
        norm (also guide_norm), norm2, mlp  the same names
        op.in_proj / conv2d / out_norm /    op.stem.<the same>
          out_proj
        op.<p>_hsi / op.<p>_lidar           op.scan_params_x.<p> /
                                            op.scan_params_guide.<p>
      layers_z.0.i.                         neck.fusion_blocks.i.
        op.in_proj ... out_proj             op.stem.<the same>
        op.<p>                              op.scan_params.<p>
      classifier_hsi / _lidar.norm / .head  decode_head.
                                            modality_classifiers.A / .B.
                                            norm / conv
      classifier_add.norm / .head           decode_head.fused_norm / conv_seg

with ``<p>`` one of ``x_proj_weight``, ``dt_projs_weight``,
``dt_projs_bias``, ``A_logs``, ``Ds``. In ``SS2Dv2`` (the cross scan of
both ``layers_x`` and ``layers_y``) the suffix names the argument, not the
modality: ``_hsi`` the stream itself, ``_lidar`` the guide ``z``. The cross
block's one LayerNorm serves the stream and the guide, as ours does by
default (``guide_norm`` is ``norm``). Any other key, and any missing one,
is refused, naming them; so is a tensor whose shape does not fit the
config's model (other band counts, classes or widths).

The frozen CLIP ViT-B/32 is not in the official file. The output leaves it
out and names the CLIP weights the tower re-attaches from on load, pinned
by their hash, as ``FrozenWeightsCheckpointHook`` does: ``--clip-weights``
(a local file or an open_clip tag), by default the config's
``model.backbone.foundation_model.pretrained``; they are read once here.
The output carries the data contract of the chosen scene in
``meta['dataset_meta']``: its modalities, normalisation and band counts
from the config's test scene and model, the crop size as ``tile_size``.

The official net feeds the adapted image to CLIP without CLIP's mean and
std; our configs apply them (``normalize_for_tower=True``). For the
official behaviour test with ``--cfg-options
model.backbone.normalize_for_tower=False`` (also printed and stored in
``meta['converted_from']``).

Examples:
    python tools/model_converters/m3amba2m3plugins.py \
        official/best_weights.pth checkpoints/m3amba_houston2013.pth \
        --dataset Houston2013
    python tools/model_converters/m3amba2m3plugins.py SRC DST \
        --dataset Augsburg --clip-weights checkpoints/ViT-B-32.pt
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from collections.abc import Mapping

import torch
from converter_io import dataset_contract, write_checkpoint
from mmengine.config import Config
from mmengine.registry import init_default_scope

from m3plugins.engine.checkpoint_checks import load_local_checkpoint
from m3plugins.engine.frozen_weights_checkpoint_hook import META_KEY
from m3plugins.models.foundation.slim_checkpoints import (
    leave_out_frozen_weights,
)
from m3plugins.structures.data_contract import tile_size_of
from m3plugins.utils.output_paths import check_outputs
from m3plugins.utils.user_errors import exit_on_user_error

#: The official repository and commit the layout was read from.
OFFICIAL = ('kaka-Cao/M3amba net/net_vmamba_v4.py VSSM @ '
            '5efde13e3ca0d80473f61e789e375bed641fbfe7')
#: Scene -> its config under configs/m3amba/.
CONFIGS = dict(Houston2013='m3amba_houston2013.py', MUUFL='m3amba_muufl.py',
               Augsburg='m3amba_augsburg.py', Trento='m3amba_trento.py')
#: Entries of the official file (test.py).
WEIGHT_ENTRIES = ('model_dict', 'conv_hsi', 'conv_lidar')
#: Scan parameters per direction (``SS2Dv2`` / ``SS2Dv2_add``).
SCAN = r'(x_proj_weight|dt_projs_weight|dt_projs_bias|A_logs|Ds)'
#: The parts of an SS2D around the scan (our ``SS2DStem``).
STEM = r'(in_proj|conv2d|out_norm|out_proj)'
#: What the config leaves to the user for the official behaviour.
OFFICIAL_CFG_OPTIONS = {'model.backbone.normalize_for_tower': False}


def rules(first: str, second: str) -> tuple[tuple[str, str], ...]:
    """(official pattern, m3plugins replacement) pairs, tried in order.

    Args:
        first: Our name of the official ``hsi`` modality.
        second: Our name of the official ``lidar`` one.

    Returns:
        tuple[tuple[str, str]]: Regex and replacement; an official key
        matches at most one.
    """
    table = []
    for official, ours in (('hsi', first), ('lidar', second)):
        adapter = f'backbone.clip_adapters.{ours}.'
        table += [
            (rf'^conv_{official}\.(weight|bias)$',
             rf'{adapter}tower_adapter.\1'),
            (rf'^model_dict\.linear_{official}\.(weight|bias)$',
             rf'{adapter}embedding_to_grid.\1'),
            (rf'^model_dict\.conv_{official}\.(weight|bias)$',
             rf'{adapter}grid_to_channels.\1'),
            (rf'^model_dict\.patch_embed_{official}_clip\.0\.(weight|bias)$',
             rf'{adapter}patch_embed.proj.\1'),
            (rf'^model_dict\.patch_embed_{official}_clip\.2\.(weight|bias)$',
             rf'{adapter}patch_embed.norm.\1'),
            (rf'^model_dict\.patch_embed_{official}\.0\.(weight|bias)$',
             rf'backbone.patch_embeds.{ours}.proj.\1'),
            (rf'^model_dict\.patch_embed_{official}\.2\.(weight|bias)$',
             rf'backbone.patch_embeds.{ours}.norm.\1'),
            (rf'^model_dict\.classifier_{official}\.norm\.(weight|bias)$',
             rf'decode_head.modality_classifiers.{ours}.norm.\1'),
            (rf'^model_dict\.classifier_{official}\.head\.(weight|bias)$',
             rf'decode_head.modality_classifiers.{ours}.conv.\1'),
        ]
    block = r'\.0\.(\d+)\.'
    common = r'(norm|norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias)$'
    for stream, index in (('x', 0), ('y', 1)):
        cross = rf'neck.cross_blocks.\1.{index}.'
        head = rf'^model_dict\.layers_{stream}{block}'
        table += [
            (head + common, cross + r'\2.\3'),
            (head + rf'op\.{STEM}\.(weight|bias)$', cross + r'op.stem.\2.\3'),
            (head + rf'op\.{SCAN}_hsi$', cross + r'op.scan_params_x.\2'),
            (head + rf'op\.{SCAN}_lidar$',
             cross + r'op.scan_params_guide.\2'),
        ]
    head = rf'^model_dict\.layers_z{block}'
    table += [
        (head + common, r'neck.fusion_blocks.\1.\2.\3'),
        (head + rf'op\.{STEM}\.(weight|bias)$',
         r'neck.fusion_blocks.\1.op.stem.\2.\3'),
        (head + rf'op\.{SCAN}$', r'neck.fusion_blocks.\1.op.scan_params.\2'),
        (r'^model_dict\.classifier_add\.norm\.(weight|bias)$',
         r'decode_head.fused_norm.\1'),
        (r'^model_dict\.classifier_add\.head\.(weight|bias)$',
         r'decode_head.conv_seg.\1'),
    ]
    return tuple(table)


#: A cross block's LayerNorm, which also normalises the guide.
CROSS_NORM = re.compile(r'^(neck\.cross_blocks\.\d+\.\d+\.)norm\.(\w+)$')


def convert_key(key: str, table) -> str | None:
    """The m3plugins key of an official key (None: unknown).

    Args:
        key: A key of :func:`official_state`'s layout.
        table: :func:`rules` of the config's modalities.

    Returns:
        str | None: The converted key.
    """
    for pattern, replacement in table:
        if re.search(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def _strip_module(state: Mapping) -> OrderedDict:
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in state.items())


def official_state(checkpoint: Mapping) -> OrderedDict:
    """The official file as one flat state dict, ``module.`` removed.

    Args:
        checkpoint: The loaded file: ``model_dict``, ``conv_hsi`` and
            ``conv_lidar`` (test.py's layout), each a state dict; other
            entries holding no tensors (optimizer state, counters) are
            ignored.

    Returns:
        OrderedDict: ``<entry>.<key>`` -> tensor, e.g.
        ``model_dict.linear_hsi.weight``, ``conv_hsi.weight``.

    Raises:
        SystemExit: For a bare state dict or another layout, or an entry
            that holds tensors under an unknown name.
    """
    if not isinstance(checkpoint.get('model_dict'), Mapping):
        raise SystemExit(
            'The file has no model_dict entry: an official M3amba file '
            "(kaka-Cao/M3amba test.py) holds 'model_dict' (the VSSM state "
            "dict) and 'conv_hsi' / 'conv_lidar' (the convs in front of "
            f'CLIP); this one holds {", ".join(map(str, checkpoint))}.')
    flat, unknown = OrderedDict(), []
    for entry, value in checkpoint.items():
        if entry not in WEIGHT_ENTRIES:
            if isinstance(value, torch.Tensor) or (
                    isinstance(value, Mapping)
                    and any(isinstance(v, torch.Tensor)
                            for v in value.values())):
                unknown.append(str(entry))
            continue
        for key, tensor in _strip_module(value).items():
            flat[f'{entry}.{key}'] = tensor
    if unknown:
        raise SystemExit(
            f'Entries {", ".join(unknown)} of the file are not in the '
            f'official M3amba layout ({", ".join(WEIGHT_ENTRIES)}).')
    return flat


def convert(state: Mapping, modalities) -> OrderedDict:
    """Official state dict -> ``M3amba`` state dict (no CLIP tower).

    Args:
        state: :func:`official_state`'s output.
        modalities: The config's two modality names, in stacking order
            (the official ``hsi``, then ``lidar``).

    Returns:
        OrderedDict: Converted keys, tensors unchanged; each cross block's
        ``norm`` also as ``guide_norm`` (one module under two names).

    Raises:
        SystemExit: For keys the table does not name, naming them.
    """
    table = rules(*modalities)
    converted, unknown = OrderedDict(), []
    for key, value in state.items():
        new = convert_key(key, table)
        if new is None:
            unknown.append(key)
            continue
        converted[new] = value
        shared = CROSS_NORM.match(new)
        if shared:
            converted[f'{shared[1]}guide_norm.{shared[2]}'] = value
    if unknown:
        raise SystemExit(
            f'{len(unknown)} keys are not in the official M3amba layout '
            f'({OFFICIAL}), e.g. {", ".join(unknown[:5])}.')
    return converted


def scene_of(cfg: Config) -> dict:
    """The scene the config tests on (its dataset's ``scene``)."""
    for loader in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        scene = cfg.get(loader, {}).get('dataset', {}).get('scene')
        if scene:
            return scene
    raise SystemExit('The config names no scene (test_dataloader.dataset.'
                     'scene): is it an M3amba scene config?')


def build_model(cfg: Config, clip_weights: str | None):
    """The config's model, its CLIP tower from ``clip_weights``."""
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    from mmseg.registry import MODELS
    model_cfg = cfg.model.copy()
    if model_cfg.get('type') != 'M3amba':
        raise SystemExit(f'The config builds a {model_cfg.get("type")}, not '
                         'an M3amba.')
    if clip_weights is not None:
        model_cfg.backbone.foundation_model.pretrained = clip_weights
    return MODELS.build(model_cfg).eval()


def load_converted(model, converted: OrderedDict) -> None:
    """Load ``converted`` into ``model``; all but the tower must be given.

    Raises:
        SystemExit: Naming the tensors of another shape, the model's keys
            the file does not give and the converted keys the model lacks.
    """
    expected = model.state_dict()
    wrong = [f'{k} {tuple(v.shape)} (the config: {tuple(expected[k].shape)})'
             for k, v in converted.items()
             if k in expected and v.shape != expected[k].shape]
    if wrong:
        raise SystemExit(
            f'{len(wrong)} tensors do not fit the config\'s model (another '
            f'scene, width or depth?), e.g. {"; ".join(wrong[:3])}.')
    result = model.load_state_dict(converted, strict=False)
    missing = [k for k in result.missing_keys
               if not k.startswith('backbone.tower.')]
    if missing or result.unexpected_keys:
        raise SystemExit(
            'The official file does not fill the config\'s model: missing '
            f'{", ".join(missing[:5]) or "none"}; not in the model '
            f'{", ".join(result.unexpected_keys[:5]) or "none"} (another '
            'depth, or a file of another M3amba version?).')


def parse_args():
    """Parse the command line.

    Returns:
        argparse.Namespace: Source, destination and options.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (test.py layout)')
    parser.add_argument('dst', help='m3plugins checkpoint to write')
    parser.add_argument('--dataset', default='Houston2013',
                        choices=sorted(CONFIGS),
                        help='scene whose data contract the checkpoint gets')
    parser.add_argument('--config', default=None,
                        help='M3amba config of the scene (default: '
                        'configs/m3amba/m3amba_<scene>.py)')
    parser.add_argument('--clip-weights', default=None,
                        help="CLIP weights (file or open_clip tag) the "
                        "frozen tower re-attaches from (default: the "
                        "config's foundation_model.pretrained)")
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing output file')
    return parser.parse_args()


def main() -> int:
    """Convert and write; returns the exit status."""
    args = parse_args()
    check_outputs(files={args.dst: 'output'}, inputs={args.src: 'input'},
                  overwrite=args.overwrite)
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    config = args.config or osp.join(root, 'configs', 'm3amba',
                                     CONFIGS[args.dataset])
    cfg = Config.fromfile(config)
    scene = scene_of(cfg)
    if scene.get('type') != args.dataset:
        raise SystemExit(f'{config} is a config of {scene.get("type")}, '
                         f'not of --dataset {args.dataset}.')
    layout = OrderedDict(
        (str(n), int(c))
        for n, c in dict(cfg.model.data_preprocessor.modality_channels)
        .items())
    if len(layout) != 2:
        raise SystemExit('The official M3amba has two modalities; the '
                         f'config stacks {list(layout)}.')
    contract = dataset_contract(
        args.dataset, modalities=tuple(layout),
        normalization=scene.get('normalization'),
        modality_channels=dict(layout)).with_tile_size(
            tile_size_of(cfg.model.get('test_cfg'),
                         cfg.model.data_preprocessor.get('size')))
    converted = convert(
        official_state(load_local_checkpoint(args.src, map_location='cpu')),
        tuple(layout))
    classes = converted['decode_head.conv_seg.weight'].shape[0]
    if classes != contract.num_classes:
        raise SystemExit(f'The official head has {classes} classes; '
                         f'{args.dataset} has {contract.num_classes}.')
    model = build_model(cfg, args.clip_weights)
    load_converted(model, converted)
    state = model.state_dict()
    towers = leave_out_frozen_weights(model, state)
    if not all(entry['left_out'] for entry in towers.values()):
        raise SystemExit(
            'The CLIP tower has no named source (pretrained=None): give '
            '--clip-weights, the file or tag of the CLIP ViT-B/32 the '
            'official model used (open_clip tag openai).')
    meta = {'dataset_meta': contract.to_metainfo(), META_KEY: towers,
            'converted_from': dict(file=args.src, layout=OFFICIAL,
                                   config=config,
                                   cfg_options=OFFICIAL_CFG_OPTIONS)}
    write_checkpoint(dict(meta=meta, state_dict=state), args.src, args.dst,
                     args.overwrite)
    print(f'{len(converted)} tensors converted, written to {args.dst} with '
          f'the {args.dataset} data contract; the CLIP tower re-attaches '
          'from its source on load. For the official behaviour test with '
          '--cfg-options model.backbone.normalize_for_tower=False.')
    return 0


if __name__ == '__main__':
    with exit_on_user_error():
        sys.exit(main())
