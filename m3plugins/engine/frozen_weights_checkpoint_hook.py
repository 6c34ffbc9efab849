"""Checkpoints without the frozen towers that can be read again.

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet) trains
8.98M parameters around a frozen DINOv2 ViT-L/14 (304M parameters): every
checkpoint mmengine writes holds the tower, 1.3 GB per file, although it is
the pretrained file the run started from. M3amba (Cao et al., arXiv
2503.06446; official code kaka-Cao/M3amba) carries its frozen CLIP
ViT-B/32 the same way.

:class:`FrozenWeightsCheckpointHook` leaves out of each checkpoint the
towers whose weights come from a named source (a local weight file or a
pretrained tag) and equal it, checked by the SHA-256 of their tensors
(:func:`~m3plugins.models.foundation.leave_out_frozen_weights`). The
source and hash go into the state dict's metadata, where the tower's own
load hook finds them: loading re-attaches the tower from the source and
verifies the hash, under every loader (``--resume``, ``load_from``,
``tools/test.py``, ``tools/infer.py``, ``mim test``, ``init_model``);
a missing or different file is a clear error naming it and the hash. A
summary goes into ``checkpoint['meta']['frozen_weights']``.

Towers with random weights (``pretrained=None``, as in the demos) stay in
the checkpoint, so results never depend on re-drawing them. The optimizer
state holds only the trainable parameters already (frozen parameters get
no gradient, hence no AdamW state; ``tools/param_report.py`` checks it).
"""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from m3plugins.models.foundation import leave_out_frozen_weights

#: Key under ``checkpoint['meta']``.
META_KEY = 'frozen_weights'

__all__ = ['FrozenWeightsCheckpointHook', 'META_KEY']


@HOOKS.register_module()
class FrozenWeightsCheckpointHook(Hook):
    """Leave frozen towers with a named source out of checkpoints.

    Every m3plugins config declares it in ``default_hooks`` (through
    ``configs/_base_/default_runtime.py``); a config of your own opts in
    with ``default_hooks.frozen_weights =
    dict(type='FrozenWeightsCheckpointHook')``.

    Args:
        save_frozen: Keep every tensor in the checkpoint (a portable file
            that needs no weight file to load); the summary is still
            written.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves

    def __init__(self, save_frozen: bool = False) -> None:
        self.save_frozen = bool(save_frozen)
        self._reported = False

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Drop the sourced frozen towers from ``checkpoint['state_dict']``.

        Args:
            runner: The runner of the training.
            checkpoint: The checkpoint dict about to be saved; changed in
                place.
        """
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        summary = leave_out_frozen_weights(
            model, checkpoint['state_dict'], keep=self.save_frozen)
        if not summary:
            return
        checkpoint.setdefault('meta', {})[META_KEY] = summary
        if not self._reported:
            self._reported = True
            for name, entry in summary.items():
                print_log(_describe(name, entry), logger='current')


def _describe(name: str, entry: dict) -> str:
    """One log line on what happened to a tower in checkpoints."""
    size = f'{entry["num_tensors"]} tensors, ' \
        f'{entry["num_bytes"] / 2**20:.1f} MiB'
    source = entry['source']
    if entry['left_out']:
        return (f'Checkpoints leave out the frozen tower {name} ({size}); '
                f'it is re-attached on load from {source["kind"]} '
                f'{source["path"] or source["pretrained"]!r} (sha256 '
                f'{source["sha256"][:12]}...).')
    why = ('save_frozen=True' if source is not None else
           'it has no named pretrained source (random or changed weights)')
    return f'Checkpoints keep the frozen tower {name} ({size}): {why}.'
