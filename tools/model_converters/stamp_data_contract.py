"""Add a dataset's data contract to a checkpoint that has none.

m3plugins' inference (``tools/infer.py``) and test-time checks read the
modality layout, normalisation, classes and tile size from
``meta['dataset_meta']`` of a checkpoint, which every run of this package
writes. A checkpoint from elsewhere (an official release converted by hand,
another MMSeg project) lacks it; this tool writes a copy with the contract
a dataset class declares (``declared_contract``), weights unchanged (the
state dict keeps its metadata, so a slim checkpoint stays loadable).

Examples:
    python tools/model_converters/stamp_data_contract.py foreign.pth \
        stamped.pth --dataset ISPRSPotsdam --contract-args optical=RGB
    python tools/model_converters/stamp_data_contract.py foreign.pth \
        stamped.pth --dataset Houston2013 --tile-size 32 32
"""
import argparse
import sys

from converter_io import dataset_contract, read_state_dict, write_checkpoint
from mmengine.config import DictAction

from m3plugins.utils.user_errors import exit_on_user_error


def parse_args():
    """Parse the command line.

    Returns:
        argparse.Namespace: Source, destination and options.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint without a data contract')
    parser.add_argument('dst', help='checkpoint to write')
    parser.add_argument('--dataset', required=True,
                        help='dataset class declaring the contract, e.g. '
                        'ISPRSPotsdam, ISPRSVaihingen, Houston2013')
    parser.add_argument('--contract-args', nargs='+', action=DictAction,
                        default={}, help="declared_contract's arguments")
    parser.add_argument('--tile-size', type=int, nargs=2,
                        metavar=('H', 'W'),
                        help='tile size for inference (otherwise none)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing contract and an '
                        'existing output file')
    return parser.parse_args()


def main() -> int:
    """Stamp and write; returns the exit status."""
    args = parse_args()
    contract = dataset_contract(args.dataset, **args.contract_args)
    checkpoint, state = read_state_dict(args.src)
    meta = dict(checkpoint.get('meta') or {})
    if meta.get('dataset_meta') and not args.overwrite:
        raise SystemExit(f'{args.src} already has a data contract '
                         "(meta['dataset_meta']); pass --overwrite to "
                         'replace it.')
    metainfo = contract.to_metainfo()
    if args.tile_size:
        metainfo['tile_size'] = tuple(args.tile_size)
    meta['dataset_meta'] = metainfo
    stamped = {k: v for k, v in checkpoint.items()
               if k not in ('state_dict', 'model', 'net')}
    stamped.update(meta=meta, state_dict=state)
    write_checkpoint(stamped, args.src, args.dst, args.overwrite)
    print(f'{args.dst}: {len(state)} tensors with the {args.dataset} data '
          'contract.')
    return 0


if __name__ == '__main__':
    with exit_on_user_error():
        sys.exit(main())
