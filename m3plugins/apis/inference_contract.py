"""The data contract inference follows: from the checkpoint, else the config.

A model trained with this package carries its training dataset's
:class:`~m3plugins.structures.DataContract` in the checkpoint (``meta
['dataset_meta']``, put back on the model as ``model.dataset_meta`` by MMSeg's
``init_model``): the modalities in stacking order with their bands and
normalisation (plus no-data fill and edge padding), the classes and palette,
and the tile size the model was built for. :func:`inference_contract` returns
that contract, with a normalisation override applied and the tile size
completed, after checking it against the model's modality layout.

A checkpoint whose training dataset declared no contract (an MMSeg
dataset of your own) has none; inference then takes the layout from the
model's config (``model.data_preprocessor.modality_channels``,
:mod:`m3plugins.models.layout`), the normalisation from the caller (it must
be given), the tile size from ``model.test_cfg.crop_size`` in ``'slide'``
mode, else ``model.data_preprocessor.size``, and classes and palette from
the config's test dataset, else the checkpoint's ``dataset_meta``.
"""
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
from mmengine.config import Config

from m3plugins.datasets.normalization import resolve_normalization
from m3plugins.models.layout import (
    config_missing_modalities,
    config_modality_channels,
)
from m3plugins.structures.data_contract import (
    DataContract,
    ModalitySpec,
    tile_size_of,
)
from m3plugins.utils.modalities import (
    check_modality_layout,
    format_modality_layout,
)

__all__ = [
    'inference_contract', 'config_tile_size', 'config_dataset',
    'with_normalization', 'check_model_layout', 'DEFAULT_TILE_SIZE'
]

#: Tile size when neither the contract nor the config gives one.
DEFAULT_TILE_SIZE = (512, 512)


def _get(node: Any, *keys: str) -> Any:
    """``node[keys[0]][keys[1]]...``, or None where a level is missing."""
    for key in keys:
        if not isinstance(node, (Mapping, Config)):
            return None
        node = node.get(key, None)
    return node


def config_tile_size(cfg: Config) -> tuple[int, int] | None:
    """The input size the config's model is tested at.

    See :func:`m3plugins.structures.data_contract.tile_size_of`:
    ``model.test_cfg.crop_size`` in ``'slide'`` mode, else
    ``model.data_preprocessor.size``.

    Returns:
        (rows, cols), or None when neither is set.
    """
    model = cfg.get('model', None)
    return tile_size_of(_get(model, 'test_cfg'),
                        _get(model, 'data_preprocessor', 'size'))


def config_dataset(cfg: Config) -> Mapping | None:
    """``test_dataloader.dataset``, else ``val_dataloader.dataset``."""
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = _get(cfg, loader, 'dataset')
        if dataset:
            return dataset
    return None


def _dataset_metainfo(dataset: Mapping | None) -> dict:
    """The dataset class's ``METAINFO`` updated by the config's metainfo."""
    if dataset is None:
        return {}
    meta = {}
    dataset_type = dataset.get('type', None)
    if isinstance(dataset_type, str):
        from mmseg.registry import DATASETS
        dataset_type = DATASETS.get(dataset_type)
    meta.update(getattr(dataset_type, 'METAINFO', None) or {})
    meta.update(dataset.get('metainfo', None) or {})
    return meta


def with_normalization(contract: DataContract,
                       override: str | Mapping[str, str] | None
                       ) -> DataContract:
    """A copy whose modalities use ``override``'s normalisation methods.

    Args:
        contract: The contract to change.
        override: One method for every modality, or modality -> method
            (modalities left out keep theirs); None changes nothing.

    Raises:
        ValueError: For an unknown method or modality.
    """
    if override is None:
        return contract
    names = list(contract.modality_channels)
    if isinstance(override, str):
        methods = {name: override for name in names}
    else:
        methods = {m.name: m.normalization for m in contract.modalities}
        unknown = set(override) - set(names)
        if unknown:
            raise ValueError(
                f'normalization names modalities {sorted(unknown)} that are '
                f'not in use; modalities are {names}.')
        methods.update(override)
    methods = resolve_normalization(methods, names)
    return replace(contract, modalities=tuple(
        replace(m, normalization=methods[m.name])
        for m in contract.modalities))


def _contract_without_dataset(cfg: Config, model: torch.nn.Module,
                              override: str | Mapping[str, str] | None
                              ) -> DataContract:
    """The config's layout, normalised as ``override`` says (no dataset).

    Raises:
        ValueError: If ``override`` is None: nothing says how to normalise.
    """
    layout = config_modality_channels(cfg.get('model', None))
    if layout is None:
        raise ValueError(
            'The checkpoint has no data contract and the config declares no '
            'modality layout (model.data_preprocessor.modality_channels); '
            'large-scene inference needs the ordered modalities, e.g. '
            "modality_channels=[('optical', 3), ('dsm', 1)].")
    if override is None:
        modalities = format_modality_layout(layout)
        raise ValueError(
            'The checkpoint has no data contract, so nothing says how to '
            f'normalise the modalities ({modalities}). Pass '
            "normalization explicitly, e.g. normalization=dict(hsi='minmax', "
            "lidar='minmax') (--normalization hsi=minmax lidar=minmax on the "
            'command line).')
    meta = _dataset_metainfo(config_dataset(cfg))
    if not meta.get('classes'):
        meta = getattr(model, 'dataset_meta', None) or {}
    classes = tuple(meta.get('classes', None) or ())
    palette = tuple(tuple(int(v) for v in colour)
                    for colour in meta.get('palette', None) or ())
    # Modalities the override leaves out get min-max scaling.
    methods = resolve_normalization(override, list(layout))
    return DataContract(
        modalities=tuple(ModalitySpec(name, bands, methods[name])
                         for name, bands in layout.items()),
        classes=classes,
        palette=palette if len(palette) == len(classes) else (),
        tile_size=config_tile_size(cfg))


def check_model_layout(contract: DataContract, cfg: Config,
                       source: str) -> None:
    """Raise unless the contract stacks what the model's config splits.

    Modalities the model fills in itself (``missing_modalities``) may be
    absent from the contract.

    Args:
        contract: The data contract inference follows.
        cfg: The model's config.
        source: Where the contract comes from, for the message.

    Raises:
        m3plugins.utils.modalities.ModalityError: Naming both layouts.
    """
    model_layout = config_modality_channels(cfg.get('model', None))
    if model_layout is None:
        return
    data_layout = contract.modality_channels
    missing = config_missing_modalities(cfg.get('model', None))
    present = OrderedDict((m, n) for m, n in model_layout.items()
                          if m not in missing)
    expected = present if missing and list(data_layout.items()) == \
        list(present.items()) else model_layout
    check_modality_layout(
        data_layout, expected, where=(
            f' ({source} stacks {format_modality_layout(data_layout)}; the '
            f'model\'s modality_channels are '
            f'{format_modality_layout(model_layout)})'))


def inference_contract(model: torch.nn.Module,
                       normalization: str | Mapping[str, str] | None = None
                       ) -> DataContract:
    """The data contract large-scene inference follows for ``model``.

    From the checkpoint (``model.dataset_meta``), else from the config's
    layout and ``normalization`` (see the module docstring). The tile size
    is the contract's, else the config's, else :data:`DEFAULT_TILE_SIZE`.

    Args:
        model: A segmentor built by ``init_model`` (carries ``.cfg``, and
            ``.dataset_meta`` when the checkpoint has one).
        normalization: Override of the normalisation: one method for all
            modalities, or modality -> method.

    Returns:
        DataContract: Modalities in stacking order with the methods to use,
        classes, palette and a tile size.

    Raises:
        ValueError: If nothing says how to normalise, or the config
            declares no layout when the checkpoint has no contract.
        m3plugins.utils.modalities.ModalityError: If the contract's
            modality layout is not the model's (names both).
    """
    cfg = model.cfg
    contract = DataContract.from_metainfo(
        getattr(model, 'dataset_meta', None))
    source = 'the checkpoint\'s data contract'
    if contract is None:
        contract = _contract_without_dataset(cfg, model, normalization)
        source = 'the config\'s modality layout'
    contract = with_normalization(contract, normalization)
    check_model_layout(contract, cfg, source)
    return contract.with_tile_size(contract.tile_size or
                                   config_tile_size(cfg) or
                                   DEFAULT_TILE_SIZE)
