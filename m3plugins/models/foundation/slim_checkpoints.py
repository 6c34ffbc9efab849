"""Checkpoints of what was learned: frozen towers with a source left out.

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet) trains
8.98M parameters around a frozen DINOv2 ViT-L (304M parameters); a
checkpoint holding the tower is 1.3 GB, one without it about 36 MB. M3amba
(Cao et al., arXiv 2503.06446; official code kaka-Cao/M3amba) carries a
frozen CLIP ViT-B/32 the same way.

:func:`leave_out_frozen_weights` removes from a model's state dict every
:class:`~m3plugins.models.foundation.FrozenFoundationModel` tower whose
weights equal a named source (a local file or a pretrained tag, pinned by
the SHA-256 of its tensors), and writes that source into the state dict's
metadata entry of the tower. The tower's load hook reads it back and
re-attaches the weights from the source on load, hash verified. A tower
with no named source (random weights, ``pretrained=None``) or whose weights
differ from their source stays in the state dict, so results never depend
on re-drawing or re-reading weights that cannot be reproduced.
"""
from collections import OrderedDict

from torch import nn

from .frozen_foundation_model import FrozenFoundationModel
from .frozen_weights_source import SOURCE_METADATA_KEY

__all__ = ['leave_out_frozen_weights', 'frozen_towers']


def frozen_towers(model: nn.Module) -> dict[str, FrozenFoundationModel]:
    """The frozen foundation models inside ``model``, by module name.

    Args:
        model: Any module (unwrapped).

    Returns:
        dict[str, FrozenFoundationModel]: e.g. ``{'backbone.foundation':
        ...}``.
    """
    return {name: module for name, module in model.named_modules()
            if isinstance(module, FrozenFoundationModel)}


def leave_out_frozen_weights(model: nn.Module,
                             state_dict: OrderedDict,
                             keep: bool = False) -> dict[str, dict]:
    """Drop the frozen towers with a named source from ``state_dict``.

    Args:
        model: The model the state dict is of (unwrapped; keys without a
            ``module.`` prefix).
        state_dict: ``model.state_dict()`` (an ``OrderedDict`` whose
            ``_metadata`` travels with it through ``torch.save``); changed
            in place.
        keep: Keep every tensor (``save_frozen=True``): only the summary
            is returned.

    Returns:
        dict[str, dict]: Per tower (module name): ``left_out`` (bool),
        ``num_tensors``, ``num_bytes`` (of the tensors) and ``source``
        (the :class:`FrozenWeightsSource` record, or None for a tower
        without a named source), for ``checkpoint['meta']``.

    Raises:
        TypeError: If ``state_dict`` cannot carry metadata (a plain dict).
    """
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is None:
        try:
            state_dict._metadata = metadata = OrderedDict()
        except AttributeError:
            raise TypeError(
                'leave_out_frozen_weights needs an OrderedDict state dict '
                '(as model.state_dict() returns), got a '
                f'{type(state_dict).__name__}.') from None
    summary = {}
    for name, tower in frozen_towers(model).items():
        prefix = f'{name}.tower.' if name else 'tower.'
        keys = [k for k in state_dict if k.startswith(prefix)]
        source = tower.frozen_weights_record()
        left_out = source is not None and not keep and bool(keys)
        summary[name] = dict(
            left_out=left_out, num_tensors=len(keys),
            num_bytes=sum(state_dict[k].numel() * state_dict[k].element_size()
                          for k in keys),
            source=None if source is None else source.to_dict())
        if left_out:
            for key in keys:
                del state_dict[key]
            metadata.setdefault(name, {})[SOURCE_METADATA_KEY] = \
                source.to_dict()
    return summary
