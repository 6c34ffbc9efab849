"""Test (evaluate) a checkpoint with MMSeg's engine; MMSeg's arguments.

Example:
    python tools/test.py configs/mobanet_potsdam.py \
        work_dirs/x/iter_50000.pth --show-dir vis
"""
import argparse

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.apis.cli import (
    add_common_arguments,
    build_runner,
    load_config,
)
from m3plugins.utils.user_errors import exit_on_user_error


def parse_args() -> argparse.Namespace:
    """Parse the command line of the test tool.

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
    add_common_arguments(parser)
    return parser.parse_args()


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
    if show:
        hook['show'] = True
        hook['wait_time'] = wait_time
    if show_dir:
        cfg.visualizer['save_dir'] = show_dir


def main() -> None:
    """Load the config and checkpoint, apply the command line and test."""
    args = parse_args()
    with exit_on_user_error():
        run_test(args)


def run_test(args: argparse.Namespace) -> None:
    """Build the test run from the command line and evaluate."""
    cfg = load_config(args)
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
