"""What the checkpoint converters share: contracts, safe reading and writing.

The scripts in this folder import it as a sibling module (Python puts a
script's own folder first on ``sys.path``).
"""
import os
from collections import OrderedDict

import torch

import m3plugins  # noqa: F401  (stack fixes + registration)
from m3plugins.datasets import hsi, isprs
from m3plugins.engine.checkpoint_checks import load_local_checkpoint
from m3plugins.utils.output_paths import check_outputs


def dataset_contract(name: str, **kwargs):
    """The data contract a dataset class declares, no files read.

    Args:
        name: A dataset class of ``m3plugins.datasets.hsi`` / ``isprs`` with a
            ``declared_contract`` class method, e.g. ``'ISPRSPotsdam'``,
            ``'ISPRSVaihingen'``, ``'Houston2013'``, ``'Augsburg'``.
        **kwargs: Its ``declared_contract`` arguments (e.g.
            ``optical='RGB'``).

    Returns:
        DataContract: The contract.

    Raises:
        SystemExit: For a name without a declared contract, listing those
            that have one.
    """
    known = {n: getattr(m, n) for m in (hsi, isprs) for n in dir(m)
             if isinstance(getattr(m, n), type)
             and hasattr(getattr(m, n), 'declared_contract')
             and not n.startswith('_')}
    if name not in known:
        raise SystemExit(f'--dataset {name!r} declares no data contract; '
                         f'one of: {", ".join(sorted(known))}.')
    return known[name].declared_contract(**kwargs)


def read_state_dict(path: str) -> tuple[dict, OrderedDict]:
    """A checkpoint (weights-only) and its state dict, ``module.`` removed.

    Returns:
        tuple[dict, OrderedDict]: The whole checkpoint and its state dict
        (the dict itself when the file is a bare state dict).
    """
    checkpoint = dict(load_local_checkpoint(path, map_location='cpu'))
    state = checkpoint
    for key in ('state_dict', 'model', 'net'):
        if isinstance(checkpoint.get(key), dict):
            state = checkpoint[key]
            break
    metadata = getattr(state, '_metadata', None)
    state = OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in state.items())
    if metadata is not None:
        state._metadata = metadata
    return checkpoint, state


def write_checkpoint(checkpoint: dict, src: str, dst: str,
                     overwrite: bool) -> None:
    """Save ``checkpoint`` to ``dst``, never over ``src`` or a file.

    Raises:
        OutputOverwriteError: If ``dst`` is ``src`` (also through links),
            or exists and ``overwrite`` is False.
    """
    check_outputs(files={dst: 'output'}, inputs={src: 'input'},
                  overwrite=overwrite)
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    torch.save(checkpoint, dst)
