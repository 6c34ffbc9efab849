"""How several modalities travel through MMSeg's pipeline as one image.

MMSeg's transforms, data preprocessor and inference modes (whole, slide) all
work on one ``(H, W, C)`` image per sample. m3plugins therefore stacks the
modalities of a sample along the channel axis, in a fixed order, and models
split them again from a config entry ``modality_channels`` (for example
``dict(hsi=144, lidar=1)``). Every geometric transform then applies to all
modalities alike, and the split is checked at both ends:

* :func:`stack_modalities` (data side) rejects modalities of different
  spatial sizes and NaN / Inf values, naming the modality.
* :func:`split_modalities` (model side) rejects a wrong total channel count,
  saying what each modality expects, and NaN / Inf, naming the modality.

Configs give ``modality_channels`` as ``(name, channels)`` pairs, for example
``[('hsi', 144), ('lidar', 1)]``: mmengine writes every run's config into its
work dir with dict keys *sorted*, so a dict ``dict(optical=3, dsm=1)`` would
come back from that dumped config as ``dict(dsm=1, optical=3)`` and the split
would silently swap modalities. :func:`ordered_modality_channels` accepts both
forms (a mapping is fine in Python code) and checks them.
"""
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

ModalityLayout = Mapping[str, int] | Sequence[tuple[str, int]]


def ordered_modality_channels(
        layout: ModalityLayout) -> 'OrderedDict[str, int]':
    """Name -> channels in stacking order, from a mapping or (name, C) pairs.

    Raises:
        ValueError: For an empty layout, malformed pairs, names that are not
            non-empty strings without dots (models key modules by them),
            duplicate names or non-positive channel counts.
    """
    if isinstance(layout, Mapping):
        pairs = list(layout.items())
    else:
        pairs = []
        for item in layout:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ValueError(
                    'modality_channels must be a mapping or (name, '
                    f'channels) pairs, got item {item!r}.')
            pairs.append((item[0], item[1]))
    if not pairs:
        raise ValueError('modality_channels is empty.')
    out = OrderedDict()
    for name, channels in pairs:
        if not isinstance(name, str) or not name or '.' in name:
            raise ValueError(f'Modality name {name!r} must be a non-empty '
                             'string without dots.')
        if name in out:
            raise ValueError(f'Modality {name!r} is listed twice.')
        if int(channels) != channels or int(channels) < 1:
            raise ValueError(f'Modality {name!r} needs a positive channel '
                             f'count, got {channels!r}.')
        out[name] = int(channels)
    return out


class ModalityError(ValueError):
    """A modality is missing, misshapen or holds non-finite values."""


def format_modality_layout(channels: Mapping[str, int]) -> str:
    """``'hsi=144, lidar=1'``: a layout as configs write it."""
    return ', '.join(f'{name}={n}' for name, n in channels.items())


def modality_layout_mismatch(found: Mapping[str, int],
                             expected: Mapping[str, int],
                             expecter: str = 'the model') -> str | None:
    """Say how a data layout differs from the expected one, per modality.

    Args:
        found: Modality -> channels the data has, in stacking order.
        expected: Modality -> channels ``expecter`` expects, in order.
        expecter: Who expects ``expected`` (``'the model'``, a scene
            class name...).

    Returns:
        str or None: None when the layouts agree; otherwise a sentence
        naming each disagreeing modality with both counts, e.g. ``'hsi has
        143 bands, the model expects 144 (modality layout hsi=144, lidar=1;
        total 144 vs 145)'``, or the modalities missing / unexpected / out
        of order.
    """
    found = OrderedDict(found)
    expected = OrderedDict(expected)
    if list(found.items()) == list(expected.items()):
        return None
    totals = (f'(modality layout {format_modality_layout(expected)}; total '
              f'{sum(found.values())} vs {sum(expected.values())})')
    if set(found) != set(expected):
        missing = [m for m in expected if m not in found]
        unknown = [m for m in found if m not in expected]
        return (f'the data has modalities {list(found)} but {expecter} '
                f'expects {list(expected)} (missing {missing}, unexpected '
                f'{unknown}) {totals}')
    wrong = [m for m in expected if found[m] != expected[m]]
    if not wrong:
        return (f'the data stacks the modalities in the order {list(found)}'
                f' but {expecter} expects {list(expected)} {totals}')
    parts = [f'{m} has {found[m]} band{"s" * (found[m] != 1)}, {expecter} '
             f'expects {expected[m]}' for m in wrong]
    return f'{"; ".join(parts)} {totals}'


def check_modality_layout(found: ModalityLayout,
                          expected: ModalityLayout,
                          expecter: str = 'the model',
                          where: str = '') -> None:
    """Raise ModalityError unless ``found`` equals ``expected``.

    Args:
        found: The data's layout (mapping or ``(name, channels)`` pairs).
        expected: The expected layout.
        expecter: Who expects it, for the message.
        where: Where the data comes from (a file, a dataset), appended to
            the message.

    Raises:
        ModalityError: Naming each modality that differs and both counts
            (see :func:`modality_layout_mismatch`).
    """
    message = modality_layout_mismatch(ordered_modality_channels(found),
                                       ordered_modality_channels(expected),
                                       expecter)
    if message is not None:
        raise ModalityError(
            f'{message}{where}. Fix: make the data\'s '
            'modalities and the model\'s modality_channels agree.')


def _describe(channels: Mapping[str, int]) -> str:
    parts = ' + '.join(f'{name} {n}' for name, n in channels.items())
    return f'{sum(channels.values())} channels ({parts})'


def stack_modalities(arrays: Mapping[str, np.ndarray],
                     check_finite: bool = True) -> np.ndarray:
    """Stack per-modality ``(H, W[, C])`` arrays into one ``(H, W, sum C)``.

    Args:
        arrays: Modality name -> array of shape (H, W) or (H, W, C), in the
            order the model expects.
        check_finite: Reject NaN and Inf values.

    Returns:
        np.ndarray: float32 array of shape (H, W, sum of C).

    Raises:
        ModalityError: If there are no modalities, the spatial sizes differ,
            or a modality holds NaN / Inf.
    """
    if not arrays:
        raise ModalityError('No modality given.')
    shaped = OrderedDict()
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3:
            raise ModalityError(
                f'Modality {name!r} must be (H, W) or (H, W, C), got shape '
                f'{array.shape}.')
        shaped[name] = array
    sizes = {name: a.shape[:2] for name, a in shaped.items()}
    if len(set(sizes.values())) > 1:
        listing = ', '.join(f'{n} {h}x{w}' for n, (h, w) in sizes.items())
        raise ModalityError(
            f'Modalities must share one spatial size, got {listing}.')
    if check_finite:
        for name, array in shaped.items():
            if np.issubdtype(array.dtype, np.floating) and \
                    not np.isfinite(array).all():
                raise ModalityError(
                    f'Modality {name!r} contains NaN or Inf values; fill or '
                    'mask them before use.')
    return np.concatenate(
        [a.astype(np.float32, copy=False) for a in shaped.values()], axis=-1)


def all_finite(tensor: Tensor) -> bool:
    """Whether every value of ``tensor`` is finite, usually without a copy.

    A NaN or Inf makes the sum NaN or Inf, so a finite sum proves every
    value finite in one pass without a temporary (``torch.isfinite(x)
    .all()`` allocates a boolean tensor of the input's size and more). Only
    a non-finite sum (a bad value, or huge finite values overflowing) falls
    back to the elementwise check.
    """
    if not (tensor.is_floating_point() or tensor.is_complex()):
        return True
    if bool(torch.isfinite(tensor.sum())):
        return True
    return bool(torch.isfinite(tensor).all())


def split_modalities(inputs: Tensor,
                     modality_channels: ModalityLayout | Sequence[int],
                     check_finite: bool = True,
                     data_layout: ModalityLayout | None = None
                     ) -> dict[str, Tensor]:
    """Split a channel-stacked batch ``(B, sum C, H, W)`` per modality.

    Args:
        inputs: Batch of shape (B, sum of C, H, W).
        modality_channels: Modality name -> channel count, or
            ``(name, channels)`` pairs, in stacking order. A plain sequence
            of counts names the modalities ``modality0``, ``modality1``, ...
        check_finite: Reject NaN and Inf values.
        data_layout: The layout the data was stacked with, where the caller
            knows it (a dataset's ``modality_channels``); a wrong channel
            count is then reported per modality (``hsi has 143 bands, the
            model expects 144 ...``) instead of as stacked totals.

    Returns:
        dict[str, Tensor]: Name -> view of shape (B, C_m, H, W).

    Raises:
        ModalityError: If the channel count does not add up, or a modality
            holds NaN / Inf.
    """
    if not isinstance(modality_channels, Mapping) and all(
            isinstance(n, int) for n in modality_channels):
        modality_channels = [(f'modality{i}', n)
                             for i, n in enumerate(modality_channels)]
    modality_channels = ordered_modality_channels(modality_channels)
    if inputs.dim() != 4:
        raise ModalityError(
            f'Expected a batch (B, C, H, W), got shape {tuple(inputs.shape)}.')
    expected = sum(modality_channels.values())
    if data_layout is not None:
        data_layout = ordered_modality_channels(data_layout)
        if sum(data_layout.values()) != inputs.shape[1]:
            raise ModalityError(
                f'Input has {inputs.shape[1]} channels but its data layout '
                f'says {_describe(data_layout)}.')
        check_modality_layout(data_layout, modality_channels)
    if inputs.shape[1] != expected:
        raise ModalityError(
            f'Input has {inputs.shape[1]} channels but the model expects '
            f'{_describe(modality_channels)}. Compare the dataset\'s '
            'modality_channels (the bands of each modality file) with the '
            'model\'s modality_channels.')
    parts = torch.split(inputs, list(modality_channels.values()), dim=1)
    split = OrderedDict(zip(modality_channels.keys(), parts))
    if check_finite:
        for name, part in split.items():
            if not all_finite(part):
                raise ModalityError(
                    f'Modality {name!r} contains NaN or Inf values.')
    return split
