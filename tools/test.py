"""Test (evaluate) a checkpoint with MMSeg's engine; MMSeg's arguments.

Example:
    python tools/test.py configs/mobanet_potsdam.py \
        work_dirs/x/iter_50000.pth --show-dir vis
"""
import argparse
import os.path as osp

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.apis.cli import (
    add_common_arguments,
    build_runner,
    load_config,
)
from m3plugins.models.foundation.weight_files import (
    check_config_pretrained_weights,
)
from m3plugins.utils.output_paths import check_outputs
from m3plugins.utils.user_errors import exit_on_user_error


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line of the test tool.

    Args:
        argv: Arguments; None: ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The config and checkpoint paths, the output and
        display options, ``--tta`` and the common arguments.
    """
    parser = argparse.ArgumentParser(description='Test a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='directory where the metric writes its results')
    parser.add_argument(
        '--show', action='store_true', help='show predictions in a window')
    parser.add_argument(
        '--show-dir', help='directory where painted predictions are saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='display interval (s)')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='write into a non-empty --out / --show-dir (files of the same '
        'name are replaced); never into a folder of the inputs')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def data_folders(node, found: dict | None = None) -> dict[str, str]:
    """Folders a dataset config reads from (path -> what they are).

    ``data_root`` / ``root`` entries and each ``data_prefix`` folder under
    its ``data_root``, in the dataset and any datasets it wraps.
    """
    found = {} if found is None else found
    if isinstance(node, dict):
        root = node.get('data_root') or node.get('root')
        if isinstance(root, str):
            found.setdefault(root, 'the test data root')
            for prefix in (node.get('data_prefix') or {}).values():
                if isinstance(prefix, str) and prefix:
                    found.setdefault(osp.join(root, prefix),
                                     'a test data folder')
        for value in node.values():
            data_folders(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            data_folders(value, found)
    return found


def check_output_folders(cfg, args: argparse.Namespace) -> None:
    """Refuse ``--out`` / ``--show-dir`` that would replace files.

    See :func:`m3plugins.utils.output_paths.check_outputs`: not an existing
    file, not an input folder (the config's, the checkpoint's, the test
    data's), and empty unless ``--overwrite``.
    """
    folders = {}
    if args.out is not None:
        folders[args.out] = '--out'
    if args.show_dir:
        folders.setdefault(args.show_dir, '--show-dir')
    if folders:
        check_outputs(
            inputs={args.config: 'config', args.checkpoint: 'checkpoint'},
            folders=folders,
            input_folders=data_folders(cfg.get('test_dataloader')),
            overwrite=args.overwrite)


def enable_visualization(cfg, show: bool, show_dir, wait_time: float) -> None:
    """Make the config draw its predictions.

    Configs whose samples are image files use MMSeg's SegVisualizationHook.
    Hyperspectral scene configs carry an ``HSIClassMapHook`` instead (a
    145-band window cannot be painted on): ``--show-dir`` then receives the
    whole-scene class maps.
    """
    map_hooks = [h for h in cfg.get('custom_hooks', [])
                 if h.get('type') == 'HSIClassMapHook']
    if map_hooks:
        for hook in map_hooks:
            if show_dir:
                hook['out_dir'] = show_dir
        return
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise RuntimeError(
            '--show/--show-dir need default_hooks.visualization = '
            "dict(type='SegVisualizationHook') in the config.")
    hook['draw'] = True
    # Every test image: the hook draws one in `interval` (MMSeg's default
    # 50), which on a short test set draws nothing at all.
    hook['interval'] = 1
    if show:
        hook['show'] = True
        hook['wait_time'] = wait_time
    if show_dir:
        cfg.visualizer['save_dir'] = show_dir


def main(argv=None) -> None:
    """Load the config and checkpoint, apply the command line and test.

    Args:
        argv: Arguments; None: ``sys.argv[1:]``.
    """
    args = parse_args(argv)
    with exit_on_user_error():
        run_test(args)


def run_test(args: argparse.Namespace) -> None:
    """Build the test run from the command line and evaluate."""
    cfg = load_config(args)
    check_output_folders(cfg, args)
    check_config_pretrained_weights(cfg.model)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args.show, args.show_dir, args.wait_time)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    build_runner(cfg).test()


if __name__ == '__main__':
    main()
