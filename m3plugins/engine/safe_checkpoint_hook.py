"""Checkpoint rotation that never leaves a run without a complete checkpoint.

mmengine 0.10.7's ``CheckpointHook`` with ``max_keep_ckpts=k`` deletes the
oldest kept checkpoint *before* it writes the new one, writes the new one
under its final name, and only then rewrites ``last_checkpoint`` in place.
A kill (SIGTERM from a scheduler, SIGKILL, a full disk) in that window
leaves no complete checkpoint at all with ``k = 1``, a truncated
``iter_N.pth`` that ``--resume`` then trips over, or a ``last_checkpoint``
naming a deleted file.

:class:`SafeCheckpointHook` changes the order, nothing else:

1. the new checkpoint is written to a hidden temporary file in the same
   folder and renamed onto ``iter_N.pth`` once complete;
2. ``last_checkpoint`` is replaced the same way, so it only ever names a
   complete file;
3. only then are the checkpoints that fell out of the ``max_keep_ckpts``
   window removed.

At any moment the newest complete checkpoint is on disk and
``last_checkpoint`` names a complete file. A kill between steps 2 and 3
leaves one extra old checkpoint behind (never a missing one). Together with
:meth:`~m3plugins.engine.M3PluginsRunner.load_or_resume`, which resumes
from the newest checkpoint that loads, ``--resume`` always finds one.

Object storage (a non-local ``out_dir``) keeps mmengine's behaviour: a
rename is not atomic there. Every other option is mmengine's
``CheckpointHook``'s; configs select it as ``default_hooks.checkpoint``.
"""
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from m3plugins.utils.atomic_write import (
    atomic_open,
    commit_temp_path,
    discard_temp_path,
    is_atomic_write_temp,
    reserve_temp_path,
)

__all__ = ['SafeCheckpointHook']


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose rotation is safe against kills at any time.

    Args:
        **kwargs: Every argument of ``mmengine.hooks.CheckpointHook``
            (``interval``, ``by_epoch``, ``max_keep_ckpts``, ``save_best``,
            ``out_dir``, ...).
    """

    def before_train(self, runner) -> None:
        """Set up as mmengine does; remove this hook's stale temporaries.

        A kill during a write leaves a hidden ``.iter_N.*.tmp.pth`` file;
        only files of that exact form, written by this hook, are removed.
        """
        super().before_train(runner)
        if not (is_main_process() and self._writes_locally()):
            return
        if not osp.isdir(self.out_dir):
            return
        for name in os.listdir(self.out_dir):
            if is_atomic_write_temp(name) and self._is_own_temp(name):
                discard_temp_path(osp.join(self.out_dir, name))

    def _writes_locally(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def _is_own_temp(self, name: str) -> bool:
        """Whether ``name`` is a temporary of a checkpoint of this hook."""
        prefix = self.filename_tmpl.split('{')[0]
        return name.startswith(f'.{prefix}') and name.endswith('.pth')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self._writes_locally():
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        expired = []
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        temp_path = reserve_temp_path(self.last_ckpt) \
            if is_main_process() else None
        try:
            runner.save_checkpoint(
                self.out_dir,
                osp.basename(temp_path) if temp_path else ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            if temp_path is not None:
                commit_temp_path(temp_path, self.last_ckpt)
        except BaseException:
            if temp_path is not None:
                discard_temp_path(temp_path)
            raise
        if not is_main_process():
            return
        with atomic_open(osp.join(runner.work_dir, 'last_checkpoint'),
                         'w') as file:
            file.write(self.last_ckpt)
        for old_step in expired:
            old_path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if old_path != self.last_ckpt and osp.isfile(old_path):
                os.remove(old_path)
