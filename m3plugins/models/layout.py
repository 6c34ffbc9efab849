"""The one home of a model's modality layout, and the one rule to find it.

Multimodal models of this package read one channel-stacked batch
``(B, sum C_m, H, W)``; the layout ``modality -> channels`` (in stacking
order) says how to split it. A config declares it once, in its data
preprocessor::

    data_preprocessor = dict(type='MultimodalSegDataPreProcessor',
                             modality_channels=[('hsi', 144), ('lidar', 1)])

and every reader looks there and nowhere else:

* the segmentors, when they build their parts
  (:func:`layout_for_segmentor`, :func:`with_part_value` hand it to the
  backbone, neck and heads; an explicit part value that disagrees is an
  error naming both);
* the data contract check hook, on a built model
  (:func:`model_modality_channels`, :func:`model_missing_modalities`);
* inference and the tools, on a config (:func:`config_modality_channels`,
  :func:`config_missing_modalities`).
"""
import copy
from collections import OrderedDict
from collections.abc import Mapping

from mmengine.model import is_model_wrapper
from torch import nn

from m3plugins.utils.modalities import (
    format_modality_layout,
    ordered_modality_channels,
)

__all__ = [
    'layout_for_segmentor', 'with_part_value', 'model_modality_channels',
    'model_missing_modalities', 'config_modality_channels',
    'config_missing_modalities'
]


def _declared(part, key: str):
    """``part[key]`` of a config, ``part.key`` of a module, else None."""
    if isinstance(part, Mapping):
        return part.get(key, None)
    return getattr(part, key, None)


def _layout(value) -> 'OrderedDict[str, int] | None':
    return ordered_modality_channels(value) if value else None


def _missing(value) -> tuple[str, ...]:
    if not value:
        return ()
    return (value, ) if isinstance(value, str) else tuple(value)


def layout_for_segmentor(data_preprocessor, owner: str,
                         required: bool = True
                         ) -> 'OrderedDict[str, int] | None':
    """The layout a segmentor builds its parts with: its preprocessor's.

    Args:
        data_preprocessor: The segmentor's data preprocessor (config or
            module).
        owner: The segmentor's name, for the message.
        required: Whether a missing layout is an error.

    Returns:
        OrderedDict or None: Modality -> channels, in stacking order; None
        only when not ``required``.

    Raises:
        ValueError: If ``required`` and the data preprocessor declares no
            layout, saying where to declare it.
    """
    layout = _layout(_declared(data_preprocessor, 'modality_channels'))
    if layout is None and required:
        raise ValueError(
            f'{owner} needs the modality layout of its input: declare it '
            "in the data preprocessor, e.g. data_preprocessor=dict(type="
            "'MultimodalSegDataPreProcessor', modality_channels=[('hsi', "
            "144), ('lidar', 1)], ...).")
    return layout


def _same(given, value) -> bool:
    if isinstance(value, Mapping):
        try:
            return list(ordered_modality_channels(given).items()) == \
                list(value.items())
        except (TypeError, ValueError):
            return False
    if isinstance(value, tuple):
        return tuple(given) == value
    return given == value


def with_part_value(cfg: Mapping, key: str, value, owner: str,
                    source: str = 'data_preprocessor.modality_channels'
                    ) -> dict:
    """A copy of a part's config with ``key`` set to what the layout gives.

    An explicit, agreeing value in ``cfg`` is accepted; a different one is
    an error naming both.

    Args:
        cfg: Config of a backbone, neck or head.
        key: Its argument that follows the layout (``modality_channels``,
            ``num_modalities``, ``modality_names``...).
        value: The value the layout gives.
        owner: The part's name in the model config (``'backbone'``).
        source: Where ``value`` comes from, for the message.

    Returns:
        dict: The part's config with ``key`` set.

    Raises:
        ValueError: If ``cfg`` gives another value.
    """
    cfg = copy.deepcopy(cfg)
    given = cfg.get(key, None)
    if given is not None and not _same(given, value):
        shown = format_modality_layout(value) \
            if isinstance(value, Mapping) else repr(value)
        raise ValueError(
            f'{owner}.{key} is {given!r} in the config but {source} gives '
            f'{shown}; remove it from {owner} or make them agree.')
    cfg[key] = value
    return cfg


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def model_modality_channels(model: nn.Module
                            ) -> 'OrderedDict[str, int] | None':
    """A built model's layout: its data preprocessor's ``modality_channels``.

    Args:
        model: A segmentor, possibly in a DDP wrapper.

    Returns:
        OrderedDict or None: Modality -> channels; None for a model whose
        data preprocessor declares no layout (MMSeg's own models).
    """
    preprocessor = getattr(_unwrap(model), 'data_preprocessor', None)
    return _layout(_declared(preprocessor, 'modality_channels'))


def model_missing_modalities(model: nn.Module) -> tuple[str, ...]:
    """Modalities a built model fills in itself when the data lacks them.

    Args:
        model: A segmentor, possibly in a DDP wrapper.

    Returns:
        tuple[str, ...]: Its data preprocessor's ``missing_modalities``.
    """
    preprocessor = getattr(_unwrap(model), 'data_preprocessor', None)
    return _missing(_declared(preprocessor, 'missing_modalities'))


def config_modality_channels(model_cfg: Mapping | None
                             ) -> 'OrderedDict[str, int] | None':
    """A model config's layout: ``data_preprocessor.modality_channels``.

    Args:
        model_cfg: The ``model`` entry of a config.

    Returns:
        OrderedDict or None: Modality -> channels in stacking order; None
        when the config declares none.
    """
    preprocessor = _declared(model_cfg, 'data_preprocessor')
    return _layout(_declared(preprocessor, 'modality_channels'))


def config_missing_modalities(model_cfg: Mapping | None) -> tuple[str, ...]:
    """``data_preprocessor.missing_modalities`` of a model config.

    Args:
        model_cfg: The ``model`` entry of a config.

    Returns:
        tuple[str, ...]: The modalities the model fills in itself.
    """
    preprocessor = _declared(model_cfg, 'data_preprocessor')
    return _missing(_declared(preprocessor, 'missing_modalities'))
