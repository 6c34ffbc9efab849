"""mmengine's Runner with the guarantees m3plugins' configs opt into.

Configs select it with ``runner_type = 'M3PluginsRunner'`` (declared once in
``configs/_base_/default_runtime.py``). MMSeg's ``tools/train.py`` and
``tools/test.py``, ``mim train mmseg`` / ``mim test mmseg`` and this
package's tools all build it through MMSeg's ``RUNNERS`` registry, so every
entry point gets the same behaviour. A config that does not name it runs
on mmengine's Runner exactly as without the plugin.

What it adds to ``mmengine.runner.Runner``:

* **Distributed training without a GPU.** mmengine's launchers call
  ``torch.cuda.set_device`` whatever the backend, and MMSeg's runtime asks
  for ``nccl``. Where no GPU is usable, :meth:`setup_env` starts the process
  group with ``gloo`` and without that call (``torchrun ... --launcher
  pytorch``, Slurm, MPI); with a GPU nothing changes. The model wrapper for
  CPU models is :class:`~m3plugins.engine.CPUDistributedDataParallel`
  (``model_wrapper_cfg``).
* **Checkpoints that are checked.** :meth:`load_checkpoint` (``load_from``,
  ``--resume``, ``tools/test.py``) loads local files weights-only and
  refuses a file that is not a checkpoint or belongs to another model,
  naming it (:mod:`m3plugins.engine.checkpoint_checks`).
* **Resume from the newest checkpoint that loads.** With ``resume=True``
  and no ``load_from``, :meth:`load_or_resume` tries the work dir's
  checkpoints newest first, says which it skipped and why, and fails only
  when none loads.
* **One log line for frozen parameters** when the optimizer is built
  (:class:`~m3plugins.engine.frozen_parameter_log.FrozenParameterLogFilter`).
* **Threads that fit the machine**: intra-op threads from the cores the
  process may use, shared among the job's processes, one where a probe
  shows the cores are busy (:mod:`m3plugins.utils.thread_policy`), logged
  once.
* **Missing pretrained tower weights** are named before the data pipeline
  and the model are built.
* **A clear end for user errors.** Building the runner and its loops
  (``from_cfg``, :meth:`train`, :meth:`val`, :meth:`test`) runs under
  :func:`~m3plugins.utils.user_errors.exit_on_user_error`: a missing data
  set, an unusable checkpoint, a model that does not fit the data or a typo
  in a registered type prints one message and exits with status 2
  (``M3PLUGINS_DEBUG=1`` shows the traceback).
* **One visualizer per run**, so two runs in one process (the demo: train,
  then test) save their images in their own folders.
* **A readable console**: progress with ETA, results, warnings and errors;
  the environment and config dumps go to the work dir's log file only
  (:mod:`m3plugins.engine.console_output`).
"""
import logging
import os
import os.path as osp
import re
import uuid

import torch
from mmengine.dist import is_distributed
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import (
    _load_checkpoint,
    _load_checkpoint_to_model,
)

from m3plugins.utils.quiet_warnings import (
    full_console_requested,
    quiet_unactionable_warnings,
)
from m3plugins.utils.thread_policy import apply_thread_policy
from m3plugins.utils.user_errors import exit_on_user_error

from .checkpoint_checks import (
    NotACheckpointError,
    check_state_dict_fits_model,
    load_local_checkpoint,
)
from .console_output import ConsoleLogFilter
from .distributed_init import init_dist_on_any_device
from .frozen_parameter_log import FrozenParameterLogFilter

__all__ = ['M3PluginsRunner', 'resume_candidates']

_CHECKPOINT_NAME = re.compile(r'^(?:iter|epoch)_(?P<step>\d+)\.pth$')


def resume_candidates(work_dir: str) -> list[str]:
    """Checkpoints a run in ``work_dir`` could resume from, newest first.

    The files named ``iter_N.pth`` / ``epoch_N.pth`` in the work dir and in
    the folder of the file ``last_checkpoint`` names, ordered by ``N``
    (descending); the ``last_checkpoint`` file first among equals.

    Args:
        work_dir: The run's work dir.

    Returns:
        list[str]: Paths, newest first; empty if there is none.
    """
    named = None
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as file:
            named = file.read().strip() or None
    folders = [work_dir]
    if named and osp.dirname(named) not in ('', work_dir):
        folders.append(osp.dirname(named))
    found = {}
    for folder in folders:
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            match = _CHECKPOINT_NAME.match(name)
            if match:
                found[osp.join(folder, name)] = int(match.group('step'))
    if named:
        match = _CHECKPOINT_NAME.match(osp.basename(named))
        found.setdefault(named, int(match.group('step')) if match else -1)
    return sorted(found, key=lambda path: (found[path], path == named),
                  reverse=True)


@RUNNERS.register_module()
class M3PluginsRunner(Runner):
    """mmengine's Runner with checked checkpoints, CPU DDP and clean errors.

    Registered in mmengine's root ``RUNNERS``, so MMSeg's registry (its
    child) and any other scope find it by name.

    Takes every argument of ``mmengine.runner.Runner``; see the module
    docstring for what it changes.
    """

    @classmethod
    def from_cfg(cls, cfg) -> 'M3PluginsRunner':
        """Build the runner from a config; user errors end cleanly.

        Args:
            cfg: The whole config (mmengine ``Config``).

        Returns:
            M3PluginsRunner: The runner.
        """
        visualizer = cfg.get('visualizer')
        if isinstance(visualizer, dict):
            base = cfg.get('experiment_name') or 'visualizer'
            visualizer['name'] = f'{base}_{uuid.uuid4().hex[:12]}'
        from m3plugins.models.foundation.weight_files import (
            check_config_pretrained_weights,
        )
        with exit_on_user_error(), quiet_unactionable_warnings():
            # Missing tower weights end the run before data and model are
            # built (mim train/test and MMSeg's tools come here directly).
            check_config_pretrained_weights(cfg.get('model') or {})
            return super().from_cfg(cfg)

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        """Mmengine's logger; its console shows progress, results, warnings.

        The log file keeps everything (:mod:`m3plugins.engine.
        console_output`; ``M3PLUGINS_FULL_CONSOLE=1`` keeps the console
        complete too).

        Args:
            log_level: As ``Runner.build_logger``.
            log_file: As ``Runner.build_logger``.
            **kwargs: As ``Runner.build_logger``.

        Returns:
            MMLogger: The run's logger.
        """
        logger = super().build_logger(log_level, log_file, **kwargs)
        choice = getattr(self, '_thread_choice', None)
        if choice is not None:
            logger.info(f'm3plugins: {choice.threads} intra-op thread(s) '
                        f'({choice.reason}; --threads or M3PLUGINS_THREADS '
                        'to choose)')
        if not full_console_requested():
            for handler in logger.handlers:
                if type(handler) is logging.StreamHandler and not any(
                        isinstance(f, ConsoleLogFilter)
                        for f in handler.filters):
                    handler.addFilter(ConsoleLogFilter())
        return logger

    def setup_env(self, env_cfg: dict) -> None:
        """Start distributed runs on CPU machines with ``gloo``.

        Where no GPU is usable and the run is distributed, the process
        group is started here with ``gloo`` instead of ``nccl`` and without
        mmengine's ``torch.cuda.set_device`` call
        (:func:`~m3plugins.engine.distributed_init.init_dist_on_any_device`);
        everything else is mmengine's ``setup_env``.

        Args:
            env_cfg: The config's ``env_cfg``.
        """
        if self.distributed and not is_distributed() \
                and not torch.cuda.is_available():
            init_dist_on_any_device(self.launcher,
                                    **dict(env_cfg.get('dist_cfg') or {}))
        # Before mmengine's set_multi_processing, which would only set
        # OMP_NUM_THREADS=1 for distributed runs.
        self._thread_choice = apply_thread_policy()
        super().setup_env(env_cfg)

    def set_randomness(self, seed, diff_rank_seed: bool = False,
                       deterministic: bool = False) -> None:
        """Mmengine's seeding; deterministic runs fix the thread count too.

        Intra-op threads change how CPU reductions are split, so a run that
        must repeat bit for bit (``randomness.deterministic=True``, exact
        resume) takes its threads from the cores alone, not from a probe
        of the machine's momentary load.

        Args:
            seed: As ``Runner.set_randomness``.
            diff_rank_seed: As ``Runner.set_randomness``.
            deterministic: As ``Runner.set_randomness``.
        """
        super().set_randomness(seed, diff_rank_seed, deterministic)
        if deterministic:
            self._thread_choice = apply_thread_policy(measure=False)

    def build_optim_wrapper(self, optim_wrapper):
        """Build the optimizer wrapper, one log line for frozen parameters.

        Args:
            optim_wrapper: As ``Runner.build_optim_wrapper``.

        Returns:
            The built optimizer wrapper.
        """
        logger = MMLogger.get_current_instance()
        held_back = FrozenParameterLogFilter()
        logger.addFilter(held_back)
        try:
            built = super().build_optim_wrapper(optim_wrapper)
        finally:
            logger.removeFilter(held_back)
        if held_back.names:
            logger.warning(held_back.summary())
        return built

    def load_checkpoint(self,
                        filename: str,
                        map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:
        """Load a checkpoint into the model, refusing unusable files.

        As ``Runner.load_checkpoint``; a local file is loaded weights-only
        and checked against the model first.

        Args:
            filename: Local path or any URL mmengine understands.
            map_location: As ``torch.load``.
            strict: Whether every key must match.
            revise_keys: ``(pattern, replacement)`` revisions of the keys.

        Returns:
            dict: The loaded checkpoint.

        Raises:
            NotACheckpointError: If the file is not a checkpoint.
            CheckpointModelMismatchError: If most of its tensors do not fit
                the model.
        """
        filename = os.fspath(filename)
        if '://' in filename:
            checkpoint = _load_checkpoint(filename, map_location=map_location)
        else:
            checkpoint = load_local_checkpoint(filename, map_location)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        check_state_dict_fits_model(model, checkpoint, revise_keys,
                                    path=filename)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def load_or_resume(self) -> None:
        """Resume from the newest checkpoint that loads (``resume=True``).

        With ``load_from`` set, or without ``resume``, this is mmengine's
        behaviour.

        Raises:
            NotACheckpointError: If checkpoints exist but none loads, naming
                each with its reason.
        """
        if self._has_loaded or not self._resume \
                or self._load_from is not None:
            return super().load_or_resume()
        skipped = []
        for candidate in resume_candidates(self.work_dir):
            try:
                self.resume(candidate)
            except (NotACheckpointError, FileNotFoundError) as err:
                skipped.append(f'{candidate}: {err}')
                continue
            for reason in skipped:
                self.logger.warning(f'Resume skipped {reason}')
            self.logger.info(f'Resumed from {candidate} (the newest '
                             'checkpoint that loads).')
            self._has_loaded = True
            return None
        if skipped:
            raise NotACheckpointError(
                f'--resume: no checkpoint in {self.work_dir} loads; '
                + '; '.join(skipped))
        self.logger.info(f'--resume: no checkpoint in {self.work_dir} yet; '
                         'training starts from the beginning.')
        return None

    def train(self):
        """Run mmengine's training; user errors end with their message."""
        with exit_on_user_error(), quiet_unactionable_warnings():
            return super().train()

    def val(self) -> dict:
        """Run mmengine's validation; user errors end with their message."""
        with exit_on_user_error(), quiet_unactionable_warnings():
            return super().val()

    def test(self) -> dict:
        """Run mmengine's test; user errors end with their message."""
        with exit_on_user_error(), quiet_unactionable_warnings():
            return super().test()
