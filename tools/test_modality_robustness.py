"""Test a checkpoint with all modalities, then with each one removed.

Runs the config's test set once per setting (full input, then each modality
of the data preprocessor's ``modality_channels`` zeroed through its
``missing_modalities``, see
:class:`~m3plugins.models.data_preprocessors.MultimodalSegDataPreProcessor`)
with MMSeg's engine, and prints the metrics side by side; the table also
goes to ``<work_dir>/modality_robustness.json``.

Example:
    python tools/test_modality_robustness.py configs/mobanet_potsdam.py \
        work_dirs/mobanet_potsdam/iter_50000.pth
    # columns: full | without optical | without dsm

The same single setting is available in ``tools/test.py`` with
``--cfg-options model.data_preprocessor.missing_modalities="['dsm']"``.
"""
import argparse
import json
import os
import os.path as osp
from collections import OrderedDict

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.apis.cli import (
    add_common_arguments,
    build_runner,
    load_config,
)
from m3plugins.utils.atomic_write import atomic_open
from m3plugins.utils.modalities import ordered_modality_channels
from m3plugins.utils.output_paths import check_outputs
from m3plugins.utils.user_errors import exit_on_user_error


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line arguments (config, checkpoint, --remove, common).

    Args:
        argv: Arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--remove',
        nargs='+',
        help='modalities to remove one at a time (default: each of '
        'model.data_preprocessor.modality_channels)')
    parser.add_argument(
        '--overwrite', action='store_true',
        help='replace <work_dir>/modality_robustness.json of an earlier run')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def format_table(results: 'OrderedDict[str, dict]') -> str:
    """Metrics (rows) x settings (columns) as aligned text."""
    settings = list(results)
    keys = []
    for metrics in results.values():
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and key not in keys:
                keys.append(key)
    width = max([len(s) for s in settings] + [10]) + 2
    key_width = max([len(k) for k in keys] + [6]) + 2
    lines = [f'{"metric":<{key_width}}' +
             ''.join(f'{s:>{width}}' for s in settings)]
    for key in keys:
        cells = []
        for setting in settings:
            value = results[setting].get(key)
            cells.append(f'{value:>{width}.2f}' if isinstance(
                value, (int, float)) else f'{"-":>{width}}')
        lines.append(f'{key:<{key_width}}' + ''.join(cells))
    return '\n'.join(lines)


def main(argv=None) -> None:
    """Test once per setting and print / write the table.

    Args:
        argv: Arguments; None: ``sys.argv[1:]``.
    """
    args = parse_args(argv)
    cfg = load_config(args)
    out = osp.join(cfg.work_dir, 'modality_robustness.json')
    with exit_on_user_error():  # before any test run
        check_outputs({out: 'the robustness table'},
                      {args.config: 'config', args.checkpoint: 'checkpoint'},
                      overwrite=args.overwrite)
    cfg.load_from = args.checkpoint
    preprocessor = cfg.model.get('data_preprocessor') or {}
    channels = preprocessor.get('modality_channels')
    if not channels:
        raise SystemExit(
            'The config has no model.data_preprocessor.modality_channels; '
            'this tool needs a multimodal data preprocessor '
            '(type=\'MultimodalSegDataPreProcessor\') to remove modalities.')
    channels = ordered_modality_channels(channels)
    remove = args.remove or list(channels)
    unknown = [m for m in remove if m not in channels]
    if unknown:
        raise SystemExit(f'--remove {unknown}: not among the modalities '
                         f'{list(channels)}.')
    preprocessor.missing_modalities = []
    results = OrderedDict()
    with exit_on_user_error():
        runner = build_runner(cfg)
        model = getattr(runner.model, 'module', runner.model)
        if not hasattr(model.data_preprocessor, 'missing_modalities'):
            raise SystemExit(
                f'{type(model.data_preprocessor).__name__} has no '
                'missing_modalities switch.')
        settings = [('full', [])] + [(f'without {m}', [m]) for m in remove]
        for label, missing in settings:
            model.data_preprocessor.missing_modalities = missing
            runner.logger.info(f'Modality robustness: testing {label}')
            results[label] = dict(runner.test())
    table = format_table(results)
    print('\n=== modality robustness ===')
    print(table)
    os.makedirs(cfg.work_dir, exist_ok=True)
    with atomic_open(out, 'w') as f:
        json.dump(results, f, indent=2)
    print(f'(written to {out})')


if __name__ == '__main__':
    main()
