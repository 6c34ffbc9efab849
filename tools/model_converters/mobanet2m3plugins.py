"""Convert an official MoBaNet checkpoint into an m3plugins checkpoint.

MoBaNet (Li et al., arXiv 2603.17705); official code sauryeo/MoBaNet,
``train.py`` saving ``MMNet`` (``MMNet.py`` at commit
1ae0e7ef24b2f7df794ef579ad4a2b4ee8bdc739) with the DINOv2 encoder
``DinoV2DualEncoder`` (``Model/models/dinov2/build_dinov2.py``) and its
``CPIABlock`` / ``BoundaryAwareGatedFusionBlock``
(``Model/models/ImageEncoder/vit/peft_modules.py``). Official key ->
m3plugins key (``MoBaNetSegmentor`` of ``configs/mobanet_potsdam.py``)::

    image_encoder.backbone.<k>             backbone.foundation.tower.<k>
        (DINOv2 hub layout = timm's; mask_token dropped, register_tokens
        -> reg_token)
    image_encoder.extra_patch_embed.<k>    backbone.dsm_patch_embed.<k>
    image_encoder.peft_cpia_blocks.i.      backbone.cpia.i.
        D_fc1 / D_fc2 / P_fc2 / U_fc1      down_a / down_b / fuse / up
        tfts_{gamma,beta}_rgb / _dsm       {gamma,beta}_a / _b
    image_encoder.peft_bagf_blocks.i.      neck.gates.i.
        rgb_reduce / dsm_reduce / gate_net reduce_rgb / reduce_dsm / gate
    image_encoder.peft_fuse_norms.i.<k>    neck.fuse_norms.i.<k>
    image_encoder.dual_proj_layers.i.<k>   neck.projections.i.0.<k>
    decoder.<k>                            decode_head.<k>
    aux_head_rgb. / aux_head_dsm.          auxiliary_head.0. / .1.
        conv.0 / conv.1 / conv_out.0       conv.conv / conv.bn / conv_seg

A gate of the pre-release form (``edge_encoder``, ``refine_net``: removed
from the official code before release) is refused, as is any key this
table does not name. The output carries the data contract of the chosen
ISPRS dataset in ``meta['dataset_meta']``.

Examples:
    python tools/model_converters/mobanet2m3plugins.py \
        official/potsdam_best.pth checkpoints/mobanet_potsdam.pth
    python tools/model_converters/mobanet2m3plugins.py SRC DST \
        --dataset ISPRSVaihingen
"""
import argparse
import re
import sys
from collections import OrderedDict

from converter_io import dataset_contract, read_state_dict, write_checkpoint

from m3plugins.utils.user_errors import exit_on_user_error

#: (official pattern, m3plugins replacement), tried in order.
RULES = (
    (r'^image_encoder\.backbone\.register_tokens$',
     'backbone.foundation.tower.reg_token'),
    (r'^image_encoder\.backbone\.', 'backbone.foundation.tower.'),
    (r'^image_encoder\.extra_patch_embed\.', 'backbone.dsm_patch_embed.'),
    (r'^image_encoder\.peft_cpia_blocks\.(\d+)\.D_fc1\.',
     r'backbone.cpia.\1.down_a.'),
    (r'^image_encoder\.peft_cpia_blocks\.(\d+)\.D_fc2\.',
     r'backbone.cpia.\1.down_b.'),
    (r'^image_encoder\.peft_cpia_blocks\.(\d+)\.P_fc2\.',
     r'backbone.cpia.\1.fuse.'),
    (r'^image_encoder\.peft_cpia_blocks\.(\d+)\.U_fc1\.',
     r'backbone.cpia.\1.up.'),
    (r'^image_encoder\.peft_cpia_blocks\.(\d+)\.tfts_(gamma|beta)_rgb$',
     r'backbone.cpia.\1.\2_a'),
    (r'^image_encoder\.peft_cpia_blocks\.(\d+)\.tfts_(gamma|beta)_dsm$',
     r'backbone.cpia.\1.\2_b'),
    (r'^image_encoder\.peft_bagf_blocks\.(\d+)\.rgb_reduce\.',
     r'neck.gates.\1.reduce_rgb.'),
    (r'^image_encoder\.peft_bagf_blocks\.(\d+)\.dsm_reduce\.',
     r'neck.gates.\1.reduce_dsm.'),
    (r'^image_encoder\.peft_bagf_blocks\.(\d+)\.gate_net\.',
     r'neck.gates.\1.gate.'),
    (r'^image_encoder\.peft_fuse_norms\.', 'neck.fuse_norms.'),
    (r'^image_encoder\.dual_proj_layers\.(\d+)\.', r'neck.projections.\1.0.'),
    (r'^decoder\.', 'decode_head.'),
    (r'^aux_head_(rgb|dsm)\.conv\.0\.', r'aux_\1.conv.conv.'),
    (r'^aux_head_(rgb|dsm)\.conv\.1\.', r'aux_\1.conv.bn.'),
    (r'^aux_head_(rgb|dsm)\.conv_out\.0\.', r'aux_\1.conv_seg.'),
    (r'^aux_rgb\.', 'auxiliary_head.0.'),
    (r'^aux_dsm\.', 'auxiliary_head.1.'),
)
#: Official keys with no counterpart that carry nothing learned.
DROPPED = re.compile(r'^image_encoder\.backbone\.mask_token$')
#: Parts of the gate's pre-release form.
PRE_RELEASE = re.compile(
    r'peft_bagf_blocks\.\d+\.(edge_encoder|refine_net|refine_scale|sobel)')


def convert_key(key: str) -> str | None:
    """The m3plugins key of an official key (None: unknown).

    Args:
        key: Official ``MMNet`` state-dict key without ``module.``.

    Returns:
        str | None: The converted key.
    """
    converted = None
    for pattern, replacement in RULES:
        if re.search(pattern, converted or key):
            converted = re.sub(pattern, replacement, converted or key)
    return converted


def convert(state: dict) -> OrderedDict:
    """Official ``MMNet`` state dict -> ``MoBaNetSegmentor`` state dict.

    Args:
        state: Official state dict (keys without ``module.``).

    Returns:
        OrderedDict: The converted state dict, tensors unchanged.

    Raises:
        SystemExit: For pre-release gates or unknown keys, naming them.
    """
    pre_release = [k for k in state if PRE_RELEASE.search(k)]
    if pre_release:
        raise SystemExit(
            'This checkpoint has the pre-release DGFM gate (edge encoder and '
            f'refinement branch, e.g. {pre_release[0]}), which the released '
            'MoBaNet and m3plugins do not have; it cannot be converted.')
    converted, unknown = OrderedDict(), []
    for key, value in state.items():
        if DROPPED.search(key):
            continue
        new = convert_key(key)
        if new is None:
            unknown.append(key)
        else:
            converted[new] = value
    if unknown:
        raise SystemExit(
            f'{len(unknown)} keys are not in the official MoBaNet (DINOv2) '
            f'layout, e.g. {", ".join(unknown[:5])}: is this a MoBaNet '
            'train.py checkpoint of the DINOv2 encoder?')
    return converted


def parse_args():
    """Parse the command line.

    Returns:
        argparse.Namespace: Source, destination and options.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (train.py)')
    parser.add_argument('dst', help='m3plugins checkpoint to write')
    parser.add_argument('--dataset', default='ISPRSPotsdam',
                        help='dataset whose data contract the checkpoint '
                        'gets (ISPRSPotsdam or ISPRSVaihingen)')
    parser.add_argument('--optical', default=None,
                        help='optical variant of the contract (default: '
                        "the dataset's, RGB for Potsdam, IRRG for "
                        'Vaihingen)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing output file')
    return parser.parse_args()


def main() -> int:
    """Convert and write; returns the exit status."""
    args = parse_args()
    contract = dataset_contract(args.dataset, optical=args.optical)
    _, state = read_state_dict(args.src)
    converted = convert(state)
    meta = dict(dataset_meta=contract.to_metainfo(),
                converted_from=dict(file=args.src,
                                    layout='sauryeo/MoBaNet MMNet'))
    write_checkpoint(dict(meta=meta, state_dict=converted), args.src,
                     args.dst, args.overwrite)
    print(f'{len(converted)} tensors written to {args.dst} with the '
          f'{args.dataset} data contract.')
    return 0


if __name__ == '__main__':
    with exit_on_user_error():
        sys.exit(main())
