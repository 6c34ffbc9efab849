"""Run the built-in demos: generate the data, train, evaluate, save predictions.

Nothing is downloaded. The data is generated deterministically by
:mod:`m3plugins.demo` under ``data/m3plugins_demo/`` (once; later runs reuse
it), then each demo config is trained and tested with MMSeg's engine
(mmengine Runner), exactly as ``tools/train.py`` and ``tools/test.py`` would.
Metrics are printed at the end; checkpoints, logs and prediction images go to
``work_dirs/demo/<demo>/``.

Examples:
    python tools/demo.py                       # every demo
    python tools/demo.py --demo spectralmamba  # one demo
    python tools/demo.py --data-only           # only write the demo data
"""
import argparse
import json
import os.path as osp
import sys
import time
from collections import OrderedDict

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.apis.cli import build_runner
from m3plugins.demo import DemoFolderNotEmptyError, prepare_demo_data

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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    return parser.parse_args()


def run_demo(name: str, work_dir: str) -> dict:
    """Train and test one demo; returns its test metrics."""
    from mmengine.config import Config
    config, _, _ = DEMOS[name]
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.work_dir = osp.join(work_dir, name)
    build_runner(cfg).train()

    test_cfg = Config.fromfile(osp.join(REPO, config))
    test_cfg.work_dir = cfg.work_dir
    test_cfg.load_from = osp.join(
        cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    if name in PAINTS_SAMPLES:
        # Every test tile, painted, into the test run's own
        # <work_dir>/<timestamp>/vis_data (build_runner gives each run its
        # own visualizer).
        test_cfg.default_hooks.visualization.draw = True
        test_cfg.default_hooks.visualization.interval = 1
    return build_runner(test_cfg).test()


def main() -> None:
    args = parse_args()
    if args.list:
        for name, (config, data, what) in DEMOS.items():
            print(f'{name:14s} {what}  [{config}, data: {data}]')
        return
    for data in OrderedDict.fromkeys(DEMOS[name][1] for name in args.demo):
        try:
            path = prepare_demo_data(data)
        except DemoFolderNotEmptyError as err:
            print(f'\n{err}', file=sys.stderr)
            sys.exit(2)
        print(f'demo data {data!r}: {osp.abspath(path)}')
    if args.data_only:
        return
    results = OrderedDict()
    for name in args.demo:
        start = time.perf_counter()
        metrics = run_demo(name, args.work_dir)
        results[name] = dict(
            metrics={k: round(float(v), 4) for k, v in metrics.items()
                     if isinstance(v, (int, float))},
            minutes=round((time.perf_counter() - start) / 60, 2),
            outputs=osp.join(args.work_dir, name))
    print('\n=== m3plugins demo results ===')
    for name, result in results.items():
        print(f'{name}: {DEMOS[name][2]}')
        print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
