"""Shared command-line plumbing of ``tools/train.py`` and ``tools/test.py``.

Both tools accept MMSeg's own arguments and behave like MMSeg's tools, with
two additions: ``m3plugins`` is imported first (so MMSeg's own configs work
on mmcv-lite too), and a user error (missing data set, unusable checkpoint,
unknown type, ...) ends with one message and exit status 2 instead of a
traceback (:func:`m3plugins.utils.user_errors.exit_on_user_error`;
``--debug`` shows the traceback).
"""
import argparse
import logging
import os
import os.path as osp

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
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the traceback of user errors (missing data, bad '
        'checkpoint, ...) instead of their one-line message')
    add_threads_argument(parser)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: intra-op threads per process (see the policy)."""
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='intra-op threads per process (default: the cores this '
        'process may use, shared among the job\'s processes, less the '
        'cores other programs keep busy; M3PLUGINS_THREADS or '
        'OMP_NUM_THREADS also set it)')


def apply_threads_argument(args: argparse.Namespace) -> None:
    """Hand ``--threads`` to the thread policy of this process and its runs.

    The runner (:class:`~m3plugins.engine.M3PluginsRunner`) applies the
    policy when it starts; ``M3PLUGINS_THREADS`` carries the choice there
    and to child processes.
    """
    from m3plugins.utils.thread_policy import THREADS_VARIABLE
    if getattr(args, 'threads', None):
        os.environ[THREADS_VARIABLE] = str(args.threads)


def apply_debug_flag(args: argparse.Namespace) -> None:
    """Let ``--debug`` show tracebacks here and in child processes."""
    from m3plugins.utils.user_errors import DEBUG_ENVIRONMENT_VARIABLE
    if getattr(args, 'debug', False):
        os.environ[DEBUG_ENVIRONMENT_VARIABLE] = '1'


def load_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the shared arguments.

    The work dir is taken, in this order, from ``--work-dir``, the config's
    ``work_dir``, or ``./work_dirs/<config name>``, as MMSeg does.
    """
    from m3plugins.utils.quiet_warnings import quiet_unactionable_warnings
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    apply_debug_flag(args)
    apply_threads_argument(args)
    with quiet_unactionable_warnings():  # mmengine's mmseg:: base lookup
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


def build_runner(cfg: Config):
    """Build the config's runner as MMSeg's ``tools/train.py`` does.

    ``runner_type`` (every m3plugins config: ``M3PluginsRunner``) through
    MMSeg's ``RUNNERS`` registry, otherwise mmengine's ``Runner``. Hooks,
    checks and error handling are the config's (``default_hooks``,
    ``runner_type``), so this tool and MMSeg's behave the same.

    Args:
        cfg: The loaded config.

    Returns:
        The runner.
    """
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
