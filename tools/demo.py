"""Run the built-in demos: generate the data, train, test, save predictions.

Nothing is downloaded. The data is generated deterministically by
:mod:`m3plugins.demo` under ``data/m3plugins_demo/`` (once; later runs reuse
it), then each demo config is trained and tested with MMSeg's engine
(mmengine Runner), exactly as ``tools/train.py`` and ``tools/test.py`` would.
Metrics are printed at the end; checkpoints, logs and prediction images go to
``work_dirs/demo/<demo>/``.

Offline, MoBaNet's and M3amba's frozen foundation towers (DINOv2 ViT,
CLIP ViT-B/32) are small and randomly initialised: the demos then show the
pipeline and the trainable parts at work, not the papers' accuracy (the
notice printed at the end says what they can and cannot show).
``--tower-weights FILE`` runs one of them with the real tower, its weights
read from a local file.

Examples:
    python tools/demo.py                       # every demo
    python tools/demo.py --demo spectralmamba  # one demo
    python tools/demo.py --data-only           # only write the demo data
    python tools/demo.py --demo mobanet --tower-weights dinov2_vits14.pth
    python tools/demo.py --demo m3amba --tower-weights open_clip_model.bin
"""
import argparse
import json
import os.path as osp
import time
import warnings
from collections import OrderedDict
from typing import TYPE_CHECKING

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.apis.cli import (
    add_threads_argument,
    apply_threads_argument,
    build_runner,
)
from m3plugins.demo import prepare_demo_data
from m3plugins.models.foundation.weight_files import (
    check_config_pretrained_weights,
)
from m3plugins.utils.quiet_warnings import quiet_unactionable_warnings
from m3plugins.utils.user_errors import exit_on_user_error

if TYPE_CHECKING:
    from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# name -> (config, data set it trains on, what it shows)
DEMOS = OrderedDict(
    mobanet=('configs/mobanet/mobanet_demo.py', 'potsdam',
             'MoBaNet on optical + DSM tiles in the ISPRS Potsdam layout'),
    spectralmamba=('configs/spectralmamba/spectralmamba_demo.py',
                   'houston2013',
                   'SpectralMamba on an HSI scene in the Houston2013 layout'),
    m3amba=('configs/m3amba/m3amba_demo.py', 'houston2013',
            'M3amba on the same HSI + LiDAR scene'),
)
# Optical tiles are image files that MMSeg's SegVisualizationHook paints the
# predictions on; HSI scenes are not, and their configs' HSIClassMapHook
# writes the whole-scene class map (PNG with legend + class raster) instead.
PAINTS_SAMPLES = {'mobanet'}
# The real tower of each demo with a frozen foundation model, for
# --tower-weights: it replaces the demo's small random one (whose
# model_kwargs shrink it), with the channel count the demo's neck expects.
# DINOv2 ViT-S/14 (official dinov2_vits14_pretrain.pth or a timm state
# dict) and CLIP ViT-B/32 (an open_clip checkpoint; for OpenAI's own file
# add model_kwargs.force_quick_gelu=True with --cfg-options).
REAL_TOWERS = dict(
    mobanet=(dict(source='timm', name='vit_small_patch14_dinov2',
                  model_kwargs=dict()), dict(in_channels=384)),
    m3amba=(dict(source='open_clip', name='ViT-B-32', model_kwargs=dict()),
            None),
)
TOWER_NOTICE = """\
About the frozen towers: MoBaNet's DINOv2 ViT and M3amba's CLIP ViT-B/32
are frozen foundation models that the papers load pretrained. Offline, the
demos build them small and with RANDOM weights (pretrained=None; nothing
is downloaded).
  What the demos can show: the whole pipeline works end to end (data,
  training, inference, metrics, prediction maps), and the trainable parts
  (adapters, fusion, heads) learn the demo scene on top of random frozen
  features.
  What they cannot show: the papers' accuracy, or anything that depends on
  pretrained features; these numbers are no measure of either method.
  With real weights from a local file (the full-size tower, slower):
    python tools/demo.py --demo mobanet --tower-weights dinov2_vits14.pth
    python tools/demo.py --demo m3amba --tower-weights open_clip_model.bin
  which sets model.backbone.foundation_model.pretrained=FILE (plus the
  real tower's size); add --cfg-options to change anything else."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``argv``, default ``sys.argv[1:]``), checked."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=TOWER_NOTICE)
    parser.add_argument(
        '--demo',
        nargs='+',
        choices=list(DEMOS),
        default=list(DEMOS),
        help='which demos to run (default: all)')
    parser.add_argument(
        '--work-dir', default='work_dirs/demo', help='output root')
    parser.add_argument(
        '--data-only', action='store_true', help='only generate the data')
    parser.add_argument(
        '--list', action='store_true', help='list the demos and exit')
    parser.add_argument(
        '--tower-weights',
        metavar='FILE',
        help='local weight file of the real frozen tower (DINOv2 ViT-S/14 '
        'for mobanet, CLIP ViT-B/32 for m3amba) instead of the small '
        'random one; needs a single --demo mobanet or m3amba')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries of every demo run, e.g. '
        'randomness.seed=1')
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    apply_threads_argument(args)
    if args.tower_weights and (len(args.demo) != 1
                               or args.demo[0] not in REAL_TOWERS):
        parser.error('--tower-weights needs exactly one of --demo '
                     f'{" / ".join(REAL_TOWERS)}')
    return args


def load_demo_config(name: str, tower_weights: str | None = None,
                     cfg_options: dict | None = None) -> 'Config':
    """The demo's config with the real tower and overrides applied.

    Args:
        name: A key of ``DEMOS``.
        tower_weights: Local weight file of the real tower (see
            ``REAL_TOWERS``); ``None`` keeps the demo's small random tower.
        cfg_options: ``--cfg-options`` entries, merged last.

    Returns:
        Config: The config to train and test.
    """
    from mmengine.config import Config
    with quiet_unactionable_warnings():  # mmengine's mmseg:: base lookup
        cfg = Config.fromfile(osp.join(REPO, DEMOS[name][0]))
    if tower_weights is not None:
        tower, neck = REAL_TOWERS[name]
        cfg.model.backbone.foundation_model = dict(
            tower, pretrained=tower_weights)
        if neck is not None:
            cfg.model.neck.update(neck)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def random_towers(cfgs: dict[str, 'Config']) -> list[str]:
    """Names of the demos whose frozen tower has random weights."""
    return [
        name for name, cfg in cfgs.items()
        if 'foundation_model' in cfg.model.get('backbone', {})
        and not cfg.model.backbone.foundation_model.get('pretrained')
    ]


def run_demo(name: str, work_dir: str, tower_weights: str | None = None,
             cfg_options: dict | None = None) -> dict:
    """Train and test one demo; returns its test metrics."""
    cfg = load_demo_config(name, tower_weights, cfg_options)
    cfg.work_dir = osp.join(work_dir, name)
    print(f'\n=== demo {name}: {DEMOS[name][2]}; training '
          f'{cfg.train_cfg.max_iters} iterations, then testing; outputs in '
          f'{osp.abspath(cfg.work_dir)} ===', flush=True)
    build_runner(cfg).train()

    test_cfg = load_demo_config(name, tower_weights, cfg_options)
    test_cfg.work_dir = cfg.work_dir
    test_cfg.load_from = osp.join(
        cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    if name in PAINTS_SAMPLES:
        # Every test tile, painted, into the test run's own
        # <work_dir>/<timestamp>/vis_data (M3PluginsRunner gives each run its
        # own visualizer).
        test_cfg.default_hooks.visualization.draw = True
        test_cfg.default_hooks.visualization.interval = 1
    return build_runner(test_cfg).test()


def main() -> None:
    """Generate the data, run the demos, print their metrics."""
    args = parse_args()
    if args.list:
        for name, (config, data, what) in DEMOS.items():
            print(f'{name:14s} {what}  [{config}, data: {data}]')
        return
    with exit_on_user_error():  # --tower-weights checked before any work
        for name in args.demo:
            check_config_pretrained_weights(load_demo_config(
                name, args.tower_weights, args.cfg_options).model)
    for data in OrderedDict.fromkeys(DEMOS[name][1] for name in args.demo):
        with exit_on_user_error():
            path = prepare_demo_data(data)
        print(f'demo data {data!r}: {osp.abspath(path)}')
    if args.data_only:
        return
    results = OrderedDict()
    for name in args.demo:
        start = time.perf_counter()
        metrics = run_demo(name, args.work_dir, args.tower_weights,
                           args.cfg_options)
        results[name] = dict(
            metrics={k: round(float(v), 4) for k, v in metrics.items()
                     if isinstance(v, (int, float))},
            minutes=round((time.perf_counter() - start) / 60, 2),
            outputs=osp.join(args.work_dir, name))
    print('\n=== m3plugins demo results ===')
    for name, result in results.items():
        print(f'{name}: {DEMOS[name][2]}')
        print(json.dumps(result, indent=2))
    with warnings.catch_warnings():  # config reloading warns again
        warnings.simplefilter('ignore')
        random = random_towers({
            name: load_demo_config(name, args.tower_weights,
                                   args.cfg_options)
            for name in results
        })
    if random:
        print(f'\nRandom frozen tower in: {", ".join(random)}.')
        print(TOWER_NOTICE)


if __name__ == '__main__':
    main()
