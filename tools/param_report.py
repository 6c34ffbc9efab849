"""Trainable / frozen parameter report of a config's model.

Prints trainable, frozen and total parameters per top-level module (and the
trainable count without auxiliary heads), then runs one real optimizer step
(built from the config's ``optim_wrapper``) on a random batch and checks that
the frozen parameters got no gradient and no optimizer state.

Examples:
    python tools/param_report.py configs/mobanet_potsdam.py
    python tools/param_report.py configs/mobanet_potsdam.py \
        --meta  # counts only
    python tools/param_report.py configs/m3amba/m3amba_houston2013.py \
        --input-shape 145 32 32

Pretrained weights are never loaded (``pretrained`` entries become None):
the counts do not depend on them. Exit status 1 if the step check fails.
"""
import argparse
import sys

import torch
from mmengine.config import Config, DictAction

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.apis.param_report import (
    frozen_step_violations,
    parameter_report,
    trainable_step_coverage,
)
from m3plugins.utils.modalities import ordered_modality_channels
from m3plugins.utils.offline_configs import without_pretrained_weights


def infer_input_shape(cfg) -> tuple:
    """(C, H, W) of one training input from the config."""
    model = cfg.model
    channels = None
    preprocessor = model.get('data_preprocessor') or {}
    layout = preprocessor.get('modality_channels') or \
        model.get('modality_channels')
    if layout:
        channels = sum(ordered_modality_channels(layout).values())
    if channels is None and preprocessor.get('mean') is not None:
        channels = len(preprocessor['mean'])
    size = preprocessor.get('size') or cfg.get('crop_size')
    if channels is None or size is None:
        raise SystemExit('Cannot infer the input shape from the config; '
                         'pass --input-shape C H W.')
    return (channels, int(size[0]), int(size[1]))


def random_batch(cfg, shape, batch_size: int) -> dict:
    """A random batch in the form ``model.train_step`` takes.

    Args:
        cfg: The config; its decode head's ``num_classes`` bounds the random
            labels (2 if unset).
        shape: The input shape ``(C, H, W)``.
        batch_size: Number of samples N.

    Returns:
        dict: ``inputs``, N float tensors of shape (C, H, W) in [0, 255),
        and ``data_samples``, N ``SegDataSample`` with (1, H, W) random
        ``gt_sem_seg`` labels.
    """
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    num_classes = cfg.model.decode_head.get('num_classes', 2)
    channels, height, width = shape
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.rand(channels, height, width) * 255)
        sample = SegDataSample(metainfo=dict(
            img_shape=(height, width), ori_shape=(height, width),
            pad_shape=(height, width)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, height, width)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def parse_args():
    """Parse the command line of the parameter report.

    Returns:
        argparse.Namespace: The config path and the report options.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--meta', action='store_true',
                        help='build on the meta device: counts only, no '
                        'memory, no step check')
    parser.add_argument('--no-step', action='store_true',
                        help='skip the optimizer-step check')
    parser.add_argument('--input-shape', type=int, nargs=3,
                        metavar=('C', 'H', 'W'),
                        help='input of the step check (default: from the '
                        'config)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main() -> int:
    """Print the parameter report and run the optimizer-step check.

    Returns:
        int: The exit status: 1 if a frozen parameter got a gradient or an
        optimizer state, otherwise 0.
    """
    args = parse_args()
    from mmengine.logging import MMLogger
    from mmseg.registry import MODELS
    # Keep mmengine's per-parameter init / paramwise logs out of the report.
    MMLogger.get_instance('param_report', log_level='WARNING')
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model_cfg = without_pretrained_weights(cfg.model)
    if args.meta:
        with torch.device('meta'):
            model = MODELS.build(model_cfg)
    else:
        model = MODELS.build(model_cfg)
    report = parameter_report(model)
    print(f'config: {args.config}')
    print(report.format(exclude_for_summary=('auxiliary_head', )))
    if args.meta or args.no_step:
        return 0

    from mmengine.optim import build_optim_wrapper
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    shape = tuple(args.input_shape) if args.input_shape else \
        infer_input_shape(cfg)
    model.train_step(random_batch(cfg, shape, args.batch_size),
                     optim_wrapper)
    problems = frozen_step_violations(model, optim_wrapper.optimizer)
    coverage = trainable_step_coverage(model, optim_wrapper.optimizer)
    print(f'one optimizer step on a random {args.batch_size}x'
          f'{"x".join(map(str, shape))} batch:')
    if problems:
        print(f'  FAIL: {len(problems)} frozen parameters were touched:')
        for line in problems[:20]:
            print('   ', line)
        return 1
    print('  frozen parameters: no gradient, no optimizer state (OK)')
    if coverage is not None:
        print(f'  trainable tensors with optimizer state: {coverage:.0%}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
