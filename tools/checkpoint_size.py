"""Size of a config's checkpoints with and without its frozen towers.

Builds the config's model with random weights, writes every frozen tower's
weights to a weight file in a temporary folder and loads the tower from
that file, so that the tower has a named source as with real pretrained
weights (nothing is downloaded). Then saves the model's state dict twice,
as :class:`~m3plugins.engine.FrozenWeightsCheckpointHook` would: with every
tensor (``save_frozen=True``) and without the sourced towers (the default),
and prints both file sizes. With ``--optimizer`` it also takes one step of
the config's optimizer with zero gradients on the trainable parameters and
prints the size of the optimizer state and how many tensors it covers.

Examples:
    python tools/checkpoint_size.py configs/mobanet_potsdam.py --max-mb 40
    python tools/checkpoint_size.py configs/m3amba/m3amba_houston2013.py \
        --optimizer

Sizes are in MB (10^6 bytes). Exit status 1 when ``--max-mb`` is given and
the slim checkpoint is larger.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
from collections import OrderedDict

import torch
from mmengine.config import Config, DictAction

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.models.foundation import frozen_towers, leave_out_frozen_weights
from m3plugins.utils.offline_configs import without_pretrained_weights


def parse_args():
    """Parse the command line of the size report.

    Returns:
        argparse.Namespace: The config path and the report options.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--max-mb', type=float,
                        help='fail (exit 1) if the slim checkpoint is larger')
    parser.add_argument('--optimizer', action='store_true',
                        help='also measure the optimizer state after one '
                        'step of the config\'s optimizer')
    parser.add_argument('--tmp-dir',
                        help='folder for the temporary files (default: the '
                        'system\'s); about twice the tower size is needed')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def write_source_file(tower, path: str) -> None:
    """Write a weight file the tower's own loader reads back.

    A timm tower reads its own state dict; an open_clip tower reads a whole
    CLIP checkpoint (image and text towers), so one is built with the same
    model arguments and its image tower replaced by ``tower``'s.

    Args:
        tower: A :class:`~m3plugins.models.foundation.FrozenFoundationModel`.
        path: The ``.pth`` file to write.
    """
    state = tower.tower.state_dict()
    if tower.source == 'open_clip':
        import open_clip
        clip = open_clip.create_model(tower.name,
                                      **tower._build_args['model_kwargs'])
        clip.visual.load_state_dict(state)
        state = clip.state_dict()
    torch.save(state, path)


def saved_size(checkpoint: dict, path: str) -> int:
    """Bytes of ``checkpoint`` written with ``torch.save`` (file removed)."""
    torch.save(checkpoint, path)
    size = osp.getsize(path)
    os.remove(path)
    return size


def optimizer_state(model, cfg, path: str) -> tuple[int, int, int]:
    """Size and coverage of the optimizer state after one zero-grad step.

    Returns:
        tuple[int, int, int]: Bytes of the saved state, tensors with state,
        trainable tensors.
    """
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper

    from m3plugins.engine.frozen_parameter_log import (
        FrozenParameterLogFilter,
    )
    logger = MMLogger.get_current_instance()
    held_back = FrozenParameterLogFilter()  # one warning per frozen tensor
    logger.addFilter(held_back)
    try:
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    finally:
        logger.removeFilter(held_back)
    trainable = [p for p in model.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.grad = torch.zeros_like(parameter)
    wrapper.step()
    state = wrapper.state_dict()
    return (saved_size(dict(optimizer=state), path),
            len(wrapper.optimizer.state), len(trainable))


def main() -> int:
    """Print the checkpoint sizes.

    Returns:
        int: 1 if ``--max-mb`` is exceeded, otherwise 0.
    """
    args = parse_args()
    from mmengine.logging import MMLogger
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    MMLogger.get_instance('checkpoint_size', log_level='WARNING')
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = MODELS.build(without_pretrained_weights(cfg.model))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters()
                 if not p.requires_grad)
    print(f'config: {args.config}')
    print(f'parameters: trainable {trainable / 1e6:.2f}M, frozen '
          f'{frozen / 1e6:.2f}M')
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as folder:
        for index, (name, tower) in enumerate(frozen_towers(model).items()):
            source = osp.join(folder, f'tower{index}.pth')
            write_source_file(tower, source)
            tower.load_pretrained(source)
        state = model.state_dict()
        target = osp.join(folder, 'checkpoint.pth')
        full = saved_size(dict(meta={}, state_dict=state), target)
        slim_state = OrderedDict(state)
        slim_state._metadata = state._metadata
        summary = leave_out_frozen_weights(model, slim_state)
        slim = saved_size(dict(meta={}, state_dict=slim_state), target)
        for name, entry in summary.items():
            print(f'frozen tower {name}: {entry["num_tensors"]} tensors, '
                  f'{entry["num_bytes"] / 1e6:.1f} MB, source '
                  f'{entry["source"]["tower"]} from a weight file (sha256 '
                  f'{entry["source"]["sha256"][:12]}...)')
        print('checkpoint without optimizer state: full (save_frozen=True) '
              f'{full / 1e6:.1f} MB, slim (default) {slim / 1e6:.1f} MB')
        if args.optimizer:
            size, covered, tensors = optimizer_state(model, cfg, target)
            print(f'optimizer state after one step: {size / 1e6:.1f} MB, '
                  f'{covered} of {tensors} trainable tensors have state '
                  '(frozen tensors: none)')
    if args.max_mb is not None:
        verdict = 'OK' if slim <= args.max_mb * 1e6 else 'FAIL'
        print(f'slim checkpoint <= {args.max_mb:g} MB: {verdict}')
        return 0 if verdict == 'OK' else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
