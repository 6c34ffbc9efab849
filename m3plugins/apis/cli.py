"""Shared command-line plumbing of ``tools/train.py`` and ``tools/test.py``.

Both tools accept MMSeg's own arguments and behave like MMSeg's tools, with
three additions: ``m3plugins`` is imported first (so MMSeg's own configs work
on mmcv-lite too), a missing dataset ends the run with the dataset's own
instructions instead of a traceback, and so does a checkpoint file that is not
a checkpoint or belongs to another model.
"""
import argparse
import logging
import os
import os.path as osp
import sys
from contextlib import contextmanager

from mmengine.config import Config, DictAction
from mmengine.logging import print_log


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments that MMSeg's train and test tools share."""
    parser.add_argument('--work-dir', help='directory for logs and outputs')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. '
        'train_dataloader.batch_size=4 model.backbone.depth=2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the shared arguments.

    The work dir is taken, in this order, from ``--work-dir``, the config's
    ``work_dir``, or ``./work_dirs/<config name>``, as MMSeg does.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def enable_amp(cfg: Config, dtype: str = 'float16') -> None:
    """Switch the optimizer wrapper to mmengine's AmpOptimWrapper.

    Args:
        cfg: The config, changed in place.
        dtype: Autocast dtype: ``'float16'`` (MMSeg's ``--amp``, with dynamic
            loss scaling) or ``'bfloat16'`` (Ampere and newer GPUs; fp32's
            range, so no overflow for the loss scale to catch).
    """
    if dtype not in ('float16', 'bfloat16'):
        raise ValueError(f"AMP dtype must be 'float16' or 'bfloat16', got "
                         f'{dtype!r}.')
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in the config.',
                  logger='current', level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise ValueError('--amp needs optim_wrapper.type OptimWrapper, got '
                         f'{wrapper}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'
    cfg.optim_wrapper.dtype = dtype


def give_run_its_own_visualizer(cfg: Config) -> Config:
    """Name the config's visualizer after this run (in place).

    mmengine keeps one visualizer per name per process and MMSeg's configs
    all name theirs ``'visualizer'``, so a second run in the same process
    (``tools/demo.py``: training, then testing) reused the first run's
    visualizer, and its images were saved under the first run's
    ``<work_dir>/<timestamp>/vis_data``. A fresh name per run makes the
    Runner build a new visualizer saving under this run's own folder
    (unless the config sets ``save_dir`` itself).

    Args:
        cfg: The run's config; its ``visualizer`` dict, if any, gets a name
            unique to this run.

    Returns:
        Config: ``cfg``.
    """
    import uuid
    visualizer = cfg.get('visualizer')
    if isinstance(visualizer, dict):
        base = cfg.get('experiment_name') or 'visualizer'
        visualizer['name'] = f'{base}_{uuid.uuid4().hex[:12]}'
    return cfg


def build_runner(cfg: Config):
    """Build mmengine's Runner, or the config's ``runner_type``.

    The run gets its own visualizer (see :func:`give_run_its_own_visualizer`)
    and a :class:`~m3plugins.engine.DataContractCheckHook` (unless the
    config lists one), which compares the dataset's modality layout with
    the model's when each loop starts.
    """
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    give_run_its_own_visualizer(cfg)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if not any(type(hook).__name__ == 'DataContractCheckHook'
               for hook in runner.hooks):
        runner.register_hook(dict(type='DataContractCheckHook'))
    return runner


@contextmanager
def exit_cleanly_on_missing_data():
    """Turn a missing dataset into its instructions and exit status 2."""
    from torchgeo.datasets import DatasetNotFoundError
    try:
        yield
    except DatasetNotFoundError as err:
        print(f'\nDataset not found.\n{err}', file=sys.stderr)
        sys.exit(2)


@contextmanager
def exit_cleanly_on_bad_checkpoint():
    """Turn an unusable checkpoint into its one-line reason and exit 2.

    The reasons come from :mod:`m3plugins.compat.checkpoint_loading`: the
    file is not a PyTorch/mmengine checkpoint (random bytes, text, a foreign
    zip, pickled code), or its weights belong to another model.
    """
    from m3plugins.compat import (
        CheckpointModelMismatchError,
        NotACheckpointError,
    )
    try:
        yield
    except (NotACheckpointError, CheckpointModelMismatchError) as err:
        print(f'\nUnusable checkpoint.\n{err}', file=sys.stderr)
        sys.exit(2)
