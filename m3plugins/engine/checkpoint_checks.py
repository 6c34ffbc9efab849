"""Clear errors for files that are not checkpoints, or not this model's.

mmengine 0.10.7 loads local checkpoints with a bare ``torch.load``. Given a
file that is not a checkpoint, the user gets whatever the unpickler happened
to trip over (``KeyError: '101'`` for a text file, ``EOFError`` for an empty
one, ``RuntimeError: ... not in a subdirectory`` for a zip file) and, for
random bytes or a pickle with code in it, torch's advice to re-run with
``weights_only=False``, i.e. to execute whatever the file contains. And a
checkpoint of another model loads "successfully": ``load_state_dict`` with
``strict=False`` only logs the missing and unexpected keys, and a test run
then evaluates an untrained model.

The two checks here are used by the runs that opt into them
(:class:`~m3plugins.engine.M3PluginsRunner`, ``tools/infer.py``), never by
replacing mmengine's loader:

* :func:`load_local_checkpoint` always loads weights-only (pickled code is
  never run, whatever ``TORCH_FORCE_...`` environment variables say) and
  turns every failure into a :class:`NotACheckpointError` "``<path> is not
  a PyTorch/mmengine checkpoint: <reason>``", without torch's
  ``weights_only=False`` advice.
* :func:`check_state_dict_fits_model` raises
  :class:`CheckpointModelMismatchError` when fewer than half of the
  checkpoint's tensors fit the model (same name and shape): the checkpoint
  belongs to another model. A checkpoint of which most tensors fit (a
  different number of classes in the head, a backbone-only checkpoint, a
  model whose frozen tower is not saved) still loads with mmengine's
  warnings.
"""
import os
import os.path as osp
import pickle
import re
import zipfile
from collections.abc import Mapping

import torch

__all__ = [
    'NotACheckpointError', 'CheckpointModelMismatchError',
    'load_local_checkpoint', 'check_state_dict_fits_model'
]

#: Below this fraction of the checkpoint's tensors fitting the model, the
#: checkpoint is taken to be another model's.
MIN_FITTING_FRACTION = 0.5
_KEYS_NAMED = 5
_PICKLE_PROTOCOL_OPCODE = b'\x80'
_ZIP_MAGIC = b'PK\x03\x04'
# Sentences of torch's weights-only error that advise turning it off or
# point elsewhere; everything else in the message is the reason.
_TORCH_ADVICE = re.compile(
    r'weights_only|Re-running|trusted source|file an issue|Check the '
    r'documentation|safe_globals|allowlist|Weights only load failed',
    re.IGNORECASE)

class NotACheckpointError(ValueError):
    """A file given as a checkpoint cannot be read as one."""


class CheckpointModelMismatchError(ValueError):
    """A checkpoint's weights do not belong to the model loading them."""


def _strip_torch_advice(message: str) -> str:
    """The reason in torch's unpickling message, without its advice."""
    message = message.replace('WeightsUnpickler error:', '')
    kept = []
    for line in message.splitlines():
        sentences = re.split(r'(?<=[.!?])\s+', line.strip())
        kept.extend(s for s in sentences if s and not _TORCH_ADVICE.search(s))
    return ' '.join(kept).strip()


def _describe_format_problem(path: str) -> str | None:
    """Why ``path`` cannot be a torch file, judged from its bytes, or None.

    torch writes a zip archive (``<name>/data.pkl`` plus tensor records) or,
    in the legacy format, a pickle stream (protocol >= 2 starts with 0x80).
    """
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(path, 'rb') as file:
        head = file.read(8)
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as err:
            return f'it is a truncated or damaged zip archive ({err})'
        if not any(name.endswith('/data.pkl') for name in names):
            listed = ', '.join(names[:_KEYS_NAMED]) + (
                ', ...' if len(names) > _KEYS_NAMED else '')
            return ('it is a zip archive without the <name>/data.pkl record '
                    f'of a torch.save file (it holds: {listed or "nothing"})')
        return None
    if not head.startswith(_PICKLE_PROTOCOL_OPCODE):
        return ('it is neither a zip archive (torch.save format) nor a '
                f'pickle stream (legacy torch format); it starts with '
                f'{head!r} ({size} bytes)')
    return None


def _reason_from_error(err: BaseException) -> str:
    """A one-line reason from whatever ``torch.load`` raised."""
    message = _strip_torch_advice(str(err))
    blocked = re.search(r'GLOBAL ([\w.]+)', str(err))
    if isinstance(err, pickle.UnpicklingError) and blocked:
        return (f'it contains the Python object {blocked.group(1)}, which is '
                'not a tensor, a container or an object mmengine writes; '
                'm3plugins loads checkpoints weights-only and never runs '
                'code stored in a file')
    if isinstance(err, pickle.UnpicklingError):
        return (f'its content is not a weights-only pickle '
                f'({message or type(err).__name__})')
    return f'{type(err).__name__}: {message or "(no message)"}'


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """Mmengine's local checkpoint loader, weights-only, with clear errors.

    Args:
        filename: Path of the checkpoint (``~`` is expanded).
        map_location: As :func:`torch.load`.

    Returns:
        dict: The checkpoint (an mmengine checkpoint or a bare state dict).

    Raises:
        FileNotFoundError: If ``filename`` is not a file.
        NotACheckpointError: If the file is not a torch file, is damaged, is
            not a dict, or holds objects other than tensors, containers and
            what mmengine writes (pickled code is refused, never run).
    """
    filename = osp.expanduser(os.fspath(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    problem = _describe_format_problem(filename)
    if problem is None:
        try:
            checkpoint = torch.load(
                filename, map_location=map_location, weights_only=True)
        except OSError:
            raise  # the disk, not the content: report it as it is
        except Exception as err:  # noqa: B902 - any unpickling failure
            problem = _reason_from_error(err)
    if problem is None and not isinstance(checkpoint, Mapping):
        problem = (f'it holds a {type(checkpoint).__name__}, not a dict of '
                   'weights (an mmengine checkpoint or a state dict)')
    if problem is not None:
        # No exception chaining: torch's message advises weights_only=False.
        raise NotACheckpointError(
            f'{filename} is not a PyTorch/mmengine checkpoint: {problem}.'
        ) from None
    return checkpoint


def _revised_state_dict(checkpoint, revise_keys) -> dict[str, object]:
    """The state dict as mmengine's ``_load_checkpoint_to_model`` sees it."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    revised = {}
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys or ():
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    return revised


def _name_some(keys: list[str]) -> str:
    named = ', '.join(keys[:_KEYS_NAMED])
    return named + (f' and {len(keys) - _KEYS_NAMED} more'
                    if len(keys) > _KEYS_NAMED else '')


def check_state_dict_fits_model(model: torch.nn.Module,
                                checkpoint: Mapping,
                                revise_keys=((r'^module\.', ''), ),
                                path: str | None = None) -> None:
    """Raise if most of a checkpoint's tensors do not fit ``model``.

    Args:
        model: The model to load into (unwrapped).
        checkpoint: An mmengine checkpoint or a bare state dict.
        revise_keys: mmengine's ``(pattern, replacement)`` key revisions.
        path: The checkpoint's file, for the message.

    Raises:
        CheckpointModelMismatchError: If fewer than
            :data:`MIN_FITTING_FRACTION` of the checkpoint's tensors have a
            tensor of the same name and shape in the model, naming the
            counts and some missing, unexpected and mis-shaped keys.
    """
    state_dict = _revised_state_dict(checkpoint, revise_keys)
    tensors = {k: v for k, v in state_dict.items() if torch.is_tensor(v)}
    if not tensors:
        return
    model_state = model.state_dict()
    fitting = [k for k, v in tensors.items()
               if k in model_state and model_state[k].shape == v.shape]
    if len(fitting) >= MIN_FITTING_FRACTION * len(tensors):
        return
    unexpected = [k for k in tensors if k not in model_state]
    missing = [k for k in model_state if k not in tensors]
    misshaped = [
        f'{k} {tuple(tensors[k].shape)} vs {tuple(model_state[k].shape)}'
        for k in tensors if k in model_state and k not in fitting
    ]
    source = path or 'the checkpoint'
    details = [f'missing in the checkpoint: {_name_some(missing)}'] \
        if missing else []
    if unexpected:
        details.append(f'not in the model: {_name_some(unexpected)}')
    if misshaped:
        details.append(f'shape differs (checkpoint vs model): '
                       f'{_name_some(misshaped)}')
    raise CheckpointModelMismatchError(
        f'{source} is a checkpoint of another model: only {len(fitting)} of '
        f'its {len(tensors)} tensors fit {type(model).__name__} (which has '
        f'{len(model_state)}); ' + '; '.join(details) + '.')
