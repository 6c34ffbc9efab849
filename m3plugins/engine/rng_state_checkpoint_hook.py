"""Checkpoints that carry every rank's random state, for bit-exact resume."""
import logging
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmseg.registry import HOOKS

#: Key under ``checkpoint['meta']``.
META_KEY = 'rng_states'


def capture_rng_state() -> dict:
    """This process's Python, NumPy, torch CPU and CUDA random states.

    Everything is stored as builtins and tensors, so that a checkpoint stays
    loadable with ``torch.load(weights_only=True)``.

    Returns:
        dict: ``python``, ``numpy``, ``torch`` and ``cuda`` (a list with one
        state per CUDA device, empty where CUDA is not initialised).
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = (torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() and torch.cuda.is_initialized()
            else [])
    return dict(
        python=random.getstate(),
        numpy=dict(bit_generator=name,
                   keys=torch.from_numpy(keys.astype(np.int64)),
                   pos=int(pos), has_gauss=int(has_gauss),
                   cached_gaussian=float(cached)),
        torch=torch.get_rng_state(),
        cuda=list(cuda))


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    python = state['python']
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy = state['numpy']
    np.random.set_state(
        (numpy['bit_generator'], numpy['keys'].numpy().astype(np.uint32),
         numpy['pos'], numpy['has_gauss'], numpy['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _RestoreBeforeNextFetch:
    """Wrap a loop's data iterator to restore a random state once.

    The state is restored right before the first batch after mmengine has
    skipped ``skip`` batches.
    """

    def __init__(self, loop: IterBasedTrainLoop, skip: int,
                 state: dict) -> None:
        self.loop = loop
        self.iterator = loop.dataloader_iterator
        self.skip = skip
        self.state = state

    def __iter__(self):
        return self

    def __next__(self):
        if self.skip == 0:
            restore_rng_state(self.state)
            self.loop.dataloader_iterator = self.iterator
        else:
            self.skip -= 1
        return next(self.iterator)


@HOOKS.register_module()
class RNGStateCheckpointHook(Hook):
    """Save every rank's random state in checkpoints; restore it on resume.

    mmengine's checkpoints restore weights, optimizer, schedulers and the
    iteration (its train loop then skips the batches already trained, which
    restores the sampler position), but not the random number generators, so
    dropout masks, drop-path and random augmentations after ``--resume``
    differ from an uninterrupted run. With this hook, N iterations in one go
    equal N/2 iterations followed by ``--resume`` to N bit for bit (fixed
    seed, deterministic mode, the same number of processes):

    * when the :class:`~mmengine.hooks.CheckpointHook` is about to save, the
      Python, NumPy, torch CPU and CUDA states of every rank are gathered
      (the checkpoint is written by rank 0 only) and stored under
      ``meta['rng_states']``, together with the sampler position
      (``meta['rng_states']['iteration']``, the batch size and the world
      size);
    * on resume each rank restores its own states at the moment the
      uninterrupted run would be at: right before the first new batch is
      fetched, after mmengine has skipped the trained ones;
    * validation during training leaves the random states as it found them,
      so that validating (or not) at a checkpoint does not change what
      follows.

    A checkpoint without states (or written by another number of processes)
    resumes as mmengine does, with a warning.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves

    def __init__(self) -> None:
        self._captured: dict | None = None
        self._resumed: dict | None = None
        self._val_state: dict | None = None

    # ---- saving ---------------------------------------------------------
    @staticmethod
    def _checkpoint_due(runner, by_epoch: bool) -> bool:
        for hook in runner.hooks:
            if not isinstance(hook, CheckpointHook) or \
                    hook.by_epoch != by_epoch:
                continue
            if by_epoch:
                due = hook.every_n_epochs(runner, hook.interval,
                                          hook.save_begin)
                last = hook.is_last_train_epoch(runner)
            else:
                due = hook.every_n_train_iters(runner, hook.interval,
                                               hook.save_begin)
                last = hook.is_last_train_iter(runner)
            if due or (hook.save_last and last):
                return True
        return False

    def _capture(self, runner) -> None:
        states: list[dict] = all_gather_object(capture_rng_state())
        loader = runner.train_dataloader
        self._captured = dict(
            iteration=runner.iter + 1,
            epoch=runner.epoch,
            world_size=get_world_size(),
            batch_size=getattr(loader, 'batch_size', None),
            ranks=states)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        """Capture the random states if an iteration checkpoint is due.

        Args:
            runner: The runner of the training.
            batch_idx: Index of the batch in the epoch (unused).
            data_batch: The batch (unused).
            outputs: The train step's outputs (unused).
        """
        if self._checkpoint_due(runner, by_epoch=False):
            self._capture(runner)

    def after_train_epoch(self, runner) -> None:
        """Capture the random states if an epoch checkpoint is due.

        Args:
            runner: The runner of the training.
        """
        if self._checkpoint_due(runner, by_epoch=True):
            self._capture(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the captured states in ``checkpoint['meta']``.

        Only states captured at the checkpoint's own iteration (or epoch)
        are stored.

        Args:
            runner: The runner of the training.
            checkpoint: The checkpoint dict about to be saved; changed in
                place.
        """
        if self._captured is None:
            return
        meta = checkpoint.setdefault('meta', {})
        if meta.get('iter') == self._captured['iteration'] or \
                meta.get('epoch') == self._captured['epoch'] + 1:
            meta[META_KEY] = self._captured

    # ---- validation inside training ---------------------------------------
    def before_val(self, runner) -> None:
        """Remember the random states before validation.

        Args:
            runner: The runner of the training.
        """
        self._val_state = capture_rng_state()

    def after_val(self, runner) -> None:
        """Restore the random states remembered before validation.

        Args:
            runner: The runner of the training.
        """
        if self._val_state is not None:
            restore_rng_state(self._val_state)
            self._val_state = None

    # ---- resuming -----------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the random states of a resumed checkpoint for later.

        Args:
            runner: The runner of the training.
            checkpoint: The loaded checkpoint dict.
        """
        self._resumed = checkpoint.get('meta', {}).get(META_KEY)

    def before_train(self, runner) -> None:
        """Arrange for this rank's saved states to return on resume.

        An iteration-based loop gets them back right before the first new
        batch, after mmengine has skipped the batches already trained; an
        epoch-based loop at once, before the next epoch's loader. Without
        saved states (or with another number of processes) a warning says
        the run will not continue bit for bit.

        Args:
            runner: The runner of the training.
        """
        saved, self._resumed = self._resumed, None
        if runner.iter == 0 and runner.epoch == 0:
            return  # a fresh run (load_from only loads weights)
        if saved is None:
            print_log(
                'The resumed checkpoint holds no random states (written '
                'without RNGStateCheckpointHook): training continues, but '
                'not bit for bit as an uninterrupted run would.',
                logger='current', level=logging.WARNING)
            return
        world_size = get_world_size()
        if saved['world_size'] != world_size:
            print_log(
                f'The checkpoint was written by {saved["world_size"]} '
                f'processes, this run has {world_size}: the random states '
                'and the data order cannot continue exactly; resuming '
                'without restoring them.',
                logger='current', level=logging.WARNING)
            return
        state = saved['ranks'][get_rank()]
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            loop.dataloader_iterator = _RestoreBeforeNextFetch(
                loop, loop.iter, state)
        else:
            restore_rng_state(state)  # epochs: before the next epoch's loader
