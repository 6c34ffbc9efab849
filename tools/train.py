"""Train a segmentor with MMSeg's engine; MMSeg's arguments, any MMSeg config.

Example:
    python tools/train.py configs/mobanet_potsdam.py --work-dir work_dirs/x
"""
import argparse

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.apis.cli import (
    add_common_arguments,
    build_runner,
    enable_amp,
    load_config,
)
from m3plugins.models.foundation.weight_files import (
    check_config_pretrained_weights,
)
from m3plugins.utils.user_errors import exit_on_user_error


def parse_args() -> argparse.Namespace:
    """Parse the command line of the training tool.

    Returns:
        argparse.Namespace: The config path, ``--resume``, the AMP options
        and the common arguments (work dir, launcher, config options).
    """
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='resume from the newest checkpoint in the work dir that '
        'loads; to resume from a particular checkpoint, add '
        '--cfg-options load_from=PATH')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--amp-dtype',
        choices=['float16', 'bfloat16'],
        default='float16',
        help="autocast dtype of --amp (MMSeg's float16, or bfloat16 on "
        'Ampere and newer GPUs)')
    add_common_arguments(parser)
    return parser.parse_args()


def main() -> None:
    """Load the config, apply the command line and run the training."""
    args = parse_args()
    with exit_on_user_error():
        cfg = load_config(args)
        # Missing tower weights end the run now, not after the data
        # pipeline and the model were built.
        check_config_pretrained_weights(cfg.model)
        if args.amp:
            enable_amp(cfg, args.amp_dtype)
        cfg.resume = args.resume
        build_runner(cfg).train()


if __name__ == '__main__':
    main()
