"""Normalise a large scene exactly as the config's dataset does, streaming.

This module reads the *dataset contract* of a config (how its test dataset
normalises, fills no-data, pads short rasters and orders modalities) and
computes the scene statistics that contract needs in bounded memory.

The package's datasets normalise every modality before MMSeg's
``SegDataPreProcessor`` (which then applies the config's mean / std): each
dataset takes ``normalization=`` (one method for all modalities or a method
per modality, see :func:`m3plugins.datasets.normalization.
resolve_normalization`) with per-band statistics over the whole raster it
reads (the hyperspectral scene; an ISPRS tile, whose DSM is min-max scaled per
tile). Large-scene inference must feed the model the same values, so:

1. :func:`normalization_from_config` reads the method per modality from the
   config's test dataset (``test_dataloader.dataset``, looking through
   wrappers such as ``RepeatDataset``) following each dataset family's
   contract (:func:`dataset_normalization`: ``HSISceneDataset``'s
   ``scene.normalization``, the ISPRS datasets' raw optical plus
   ``dsm_normalization``, else a ``normalization`` argument), falling back to
   the class's default argument when the config does not set it.
2. :func:`streaming_band_statistics` computes the per-band statistics of each
   modality over the *whole* input raster in one pass over blocks of rows,
   merged with :func:`m3plugins.datasets.normalization.
   merge_band_statistics`, so memory stays bounded by one block.
3. Every tile is then normalised with
   :func:`m3plugins.datasets.normalization.normalize` and the scene's
   statistics, giving the values the dataset would have given for the same
   pixels. Non-finite values are left out of the statistics (as in
   :func:`band_statistics`) and rejected, naming the modality, when the tile
   holding them is stacked, except where the dataset's contract fills
   no-data (:func:`dataset_nodata_fill`: the ISPRS DSM, whose declared
   nodata and NaN pixels are left out of the statistics and set to 0 after
   scaling).
4. :func:`dataset_edge_padding` and :func:`dataset_modalities` give the
   ISPRS datasets' tolerated DSM shortfall (``dsm_edge_padding``) and the
   stacking order a dataset fixes (to warn when a model splits otherwise).
"""
import inspect
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from mmengine.config import Config, ConfigDict

from m3plugins.datasets.normalization import (
    BandStatistics,
    band_statistics,
    merge_band_statistics,
    resolve_normalization,
)

__all__ = [
    'normalization_from_config', 'dataset_normalization',
    'dataset_modalities', 'dataset_nodata_fill', 'dataset_edge_padding',
    'streaming_band_statistics', 'config_test_dataset', 'hsi_scene_config'
]

#: Bytes of float64 statistics work space per streamed block (the peak is a
#: few times this: the read block, its float64 copy and reductions).
DEFAULT_BLOCK_BYTES = 16 * 2**20
#: Dataset wrapper keys that hold the wrapped dataset config(s).
_WRAPPER_KEYS = ('dataset', 'datasets')


def config_test_dataset(cfg: Config) -> ConfigDict | None:
    """The innermost dataset config of ``test_dataloader`` (or ``val``).

    Wrappers (``RepeatDataset``, ``ConcatDataset`` ...) are looked through;
    for a concatenation the first dataset is used.

    Returns:
        ConfigDict or None: The dataset config, None if the config has no
        test or validation dataloader.
    """
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = cfg.get(loader, None)
        dataset = dataset.get('dataset', None) if dataset else None
        if dataset is not None:
            break
    else:
        return None
    while isinstance(dataset, (dict, list, tuple)):
        if isinstance(dataset, (list, tuple)):
            dataset = dataset[0]
            continue
        inner = next((dataset[k] for k in _WRAPPER_KEYS if k in dataset),
                     None)
        if inner is None:
            return dataset
        dataset = inner
    return dataset


def _registered(registry, dataset_type):
    if not isinstance(dataset_type, str):
        return dataset_type
    return registry.get(dataset_type)


def _argument_default(cls, name: str) -> Any:
    """Default of ``cls.__init__``'s argument ``name`` (searching bases)."""
    if cls is None:
        return None
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        parameter = inspect.signature(init).parameters.get(name)
        if parameter is not None and \
                parameter.default is not inspect.Parameter.empty:
            return parameter.default
    return None


def hsi_scene_config(dataset: Mapping) -> tuple[Mapping | None, Any]:
    """The ``scene`` config of an ``HSISceneDataset`` entry and its class.

    Returns:
        tuple: ``(scene config, scene class)``, or ``(None, None)`` when the
        dataset config has no ``scene`` entry.
    """
    scene = dataset.get('scene', None) if dataset is not None else None
    if not isinstance(scene, Mapping):
        return None, None
    from m3plugins.datasets.hsi import HSI_SCENES
    return scene, _registered(HSI_SCENES, scene.get('type'))


def dataset_normalization(dataset: Mapping) -> Any:
    """What the dataset config says about normalisation, per its contract.

    * ``HSISceneDataset``: ``scene.normalization`` (default: the scene
      class's ``normalization`` default, ``'minmax'``).
    * ISPRS datasets (``dsm_normalization`` argument): optical raw
      (``'none'``), DSM per tile with ``dsm_normalization``.
    * Any other dataset: its ``normalization`` argument, or the class's
      default for it.

    Returns:
        A method name, a dict modality -> method, or None when the dataset
        says nothing.
    """
    from mmseg.registry import DATASETS
    scene, scene_class = hsi_scene_config(dataset)
    if scene is not None:
        configured = scene.get('normalization', None)
        return configured if configured is not None else \
            _argument_default(scene_class, 'normalization')
    dataset_class = _registered(DATASETS, dataset.get('type'))
    dsm = dataset.get('dsm_normalization', None)
    if dsm is None:
        dsm = _argument_default(dataset_class, 'dsm_normalization')
    if dsm is not None:
        return dict(optical='none', dsm=dsm)
    configured = dataset.get('normalization', None)
    return configured if configured is not None else \
        _argument_default(dataset_class, 'normalization')


def dataset_nodata_fill(dataset: Mapping | None) -> dict[str, float]:
    """Modalities whose no-data pixels the dataset fills, and the fill value.

    ISPRS datasets leave DSM pixels at the raster's declared nodata value (or
    NaN) out of the tile statistics and set them to 0 after scaling
    (:mod:`m3plugins.datasets.isprs.tiles`): ``{'dsm': 0.0}``. Other
    datasets fill nothing; NaN in their inputs is an error (as in
    :func:`m3plugins.utils.modalities.stack_modalities`).
    """
    if dataset is not None and dataset_modalities(dataset) == ('optical',
                                                               'dsm'):
        return {'dsm': 0.0}
    return {}


def dataset_edge_padding(dataset: Mapping | None) -> dict[str, int]:
    """Rows / columns a modality's raster may fall short, per the dataset.

    ISPRS datasets: ``{'dsm': dsm_edge_padding}``, where None (the default)
    takes the tile class's ``default_dsm_edge_padding`` (Potsdam 1, Vaihingen
    0). Other datasets: ``{}``.
    """
    from mmseg.registry import DATASETS
    if dataset is None or dataset_modalities(dataset) != ('optical', 'dsm'):
        return {}
    padding = dataset.get('dsm_edge_padding', None)
    if padding is None:
        padding = _argument_default(
            _registered(DATASETS, dataset.get('type')), 'dsm_edge_padding')
    if padding is None:
        tiles = getattr(_registered(DATASETS, dataset.get('type')),
                        'tile_dataset_class', None)
        padding = getattr(tiles, 'default_dsm_edge_padding', 0)
    return {'dsm': int(padding)} if padding else {}


def dataset_modalities(dataset: Mapping) -> tuple[str, ...] | None:
    """The dataset's modality stacking order, where its contract fixes one.

    ``HSISceneDataset``: ``scene.modalities`` (default: the scene class's
    ``default_modalities``); ISPRS datasets: ``('optical', 'dsm')``; None
    otherwise.
    """
    from mmseg.registry import DATASETS
    scene, scene_class = hsi_scene_config(dataset)
    if scene is not None:
        modalities = scene.get('modalities', None) or getattr(
            scene_class, 'default_modalities', None)
        return tuple(modalities) if modalities else None
    dataset_class = _registered(DATASETS, dataset.get('type'))
    if 'dsm_normalization' in dataset or _argument_default(
            dataset_class, 'dsm_normalization') is not None:
        return ('optical', 'dsm')
    return None


def normalization_from_config(
        cfg: Config,
        modalities: Sequence[str],
        override: str | Mapping[str, str] | None = None
) -> dict[str, str]:
    """Normalisation method per modality, as the config's test dataset does.

    Args:
        cfg: The model's config.
        modalities: The modalities, in the model's order.
        override: A method for all modalities or per modality; replaces what
            the config says (modalities it leaves out keep the config's).

    Returns:
        dict[str, str]: Modality -> method (``'minmax'``, ``'zscore'`` or
        ``'none'``), see :func:`dataset_normalization`.

    Raises:
        ValueError: If neither the config's test dataset nor ``override``
            says how to normalise, or a method is unknown.
    """
    dataset = config_test_dataset(cfg)
    configured = dataset_normalization(dataset) if dataset is not None \
        else None
    if configured is None and override is None:
        raise ValueError(
            'The config\'s test dataset does not say how to normalise the '
            'modalities (no `normalization` argument, and its dataset class '
            'has no default). Pass normalization explicitly, e.g. '
            "normalization=dict(hsi='minmax', lidar='minmax') "
            '(--normalization hsi=minmax lidar=minmax on the command line).')
    if isinstance(configured, Mapping):
        # A dataset may know more modalities than the model uses.
        configured = {m: v for m, v in configured.items() if m in modalities}
    if configured is None:
        methods = resolve_normalization(override, modalities)
    else:
        methods = resolve_normalization(configured, modalities)
        if isinstance(override, str):
            methods = {m: override for m in modalities}
        elif override is not None:
            methods.update(override)
        # Validates the override's modality names and methods.
        methods = resolve_normalization(methods, modalities)
    return OrderedDict((m, methods[m]) for m in modalities)


def streaming_band_statistics(raster,
                              block_bytes: int = DEFAULT_BLOCK_BYTES,
                              nodata_as_nan: bool = False) -> BandStatistics:
    """Per-band statistics of a whole raster, read one block of rows at once.

    Args:
        raster: An object with ``height``, ``width``, ``count`` and
            ``read(row, col, height, width) -> (h, w, C) array`` (a
            :class:`m3plugins.io.modality_rasters.ModalityRaster`).
        block_bytes: Budget for one block's float64 copy; a block holds at
            least one row.
        nodata_as_nan: Leave the raster's declared nodata pixels out (they
            are read as NaN, which the statistics skip).

    Returns:
        BandStatistics: Equal (up to rounding of mean / std) to
        ``band_statistics`` of the whole raster; min and max are exact.
    """
    row_bytes = raster.width * raster.count * 8
    block_rows = max(1, int(block_bytes // max(row_bytes, 1)))
    parts = []
    for row in range(0, raster.height, block_rows):
        rows = min(block_rows, raster.height - row)
        parts.append(band_statistics(
            raster.read(row, 0, rows, raster.width, nodata_as_nan)))
    return merge_band_statistics(parts)
