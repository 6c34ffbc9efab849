"""Modality layouts that keep their order through mmengine's config dump.

A model splits the channel-stacked input by ``modality_channels`` in order
(see :mod:`m3plugins.utils.modalities`). mmengine writes every run's config
into its work dir with dict keys *sorted*, so ``dict(optical=3, dsm=1)``
comes back as ``dict(dsm=1, optical=3)`` when that dumped config is reused
(``tools/test.py work_dirs/x/config.py``) and the split would silently swap
modalities of equal channel counts. Configs can therefore give the layout
as a list of ``(name, channels)`` pairs, whose order survives the dump;
:func:`ordered_modality_channels` accepts both forms.
"""
from collections import OrderedDict
from typing import Mapping, Sequence, Tuple, Union

ModalityLayout = Union[Mapping[str, int], Sequence[Tuple[str, int]]]


def ordered_modality_channels(
        layout: ModalityLayout) -> 'OrderedDict[str, int]':
    """Name -> channels in stacking order, from a mapping or (name, C) pairs.

    Raises:
        ValueError: For an empty layout, malformed pairs, duplicate names or
            non-positive channel counts.
    """
    if isinstance(layout, Mapping):
        pairs = list(layout.items())
    else:
        pairs = []
        for item in layout:
            if isinstance(item, (str, bytes)) or len(item) != 2:
                raise ValueError(
                    'modality_channels must be a mapping or (name, '
                    f'channels) pairs, got item {item!r}.')
            pairs.append((item[0], item[1]))
    if not pairs:
        raise ValueError('modality_channels is empty.')
    out = OrderedDict()
    for name, channels in pairs:
        if name in out:
            raise ValueError(f'Modality {name!r} is listed twice.')
        if int(channels) != channels or int(channels) < 1:
            raise ValueError(f'Modality {name!r} needs a positive channel '
                             f'count, got {channels!r}.')
        out[str(name)] = int(channels)
    return out
