"""The data contract: what a dataset serves, declared once, checked and kept.

Every dataset of this package declares, in its ``metainfo``, what a model
trained on it must agree with:

* ``modalities``: one entry per modality in stacking order, each with its
  ``name``, its number of ``bands`` and how the dataset ``normalization``
  scaled the raw values (``'minmax'``, ``'zscore'`` or ``'none'``, with
  per-band statistics over the ``statistics_scope``: the whole ``'scene'``
  or each ``'tile'``), the value no-data pixels get after scaling
  (``nodata_fill``) and how many rows / columns the raster may fall short of
  the first modality (``edge_padding``, the Potsdam DSM's one pixel);
* ``classes``, ``palette`` (MMSeg's keys) and ``ignore_index``.

mmengine writes the training dataset's ``metainfo`` into every checkpoint
(``meta['dataset_meta']``) and MMSeg's ``init_model`` puts it back on the
model as ``model.dataset_meta``, so the contract travels from the dataset
through the checkpoint to inference without being declared again.
:class:`~m3plugins.engine.DataContractCheckHook` compares it with the model
before the first iteration and adds the model's ``tile_size`` (the input
size inference should use) to the checkpoint.

The contract holds plain Python values only (str, int, float, lists), so
checkpoints keep loading with ``torch.load(weights_only=True)``.

Example:
    >>> contract = DataContract(
    ...     modalities=(ModalitySpec('hsi', 144, 'minmax'),
    ...                 ModalitySpec('lidar', 1, 'minmax')),
    ...     classes=('grass', 'tree'), palette=((0, 255, 0), (0, 128, 0)))
    >>> meta = contract.to_metainfo()
    >>> DataContract.from_metainfo(meta) == contract
    True
"""
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    'ModalitySpec', 'DataContract', 'NORMALIZATION_SCOPES',
    'CONTRACT_METAINFO_KEYS', 'tile_size_of'
]

#: Over what a dataset computes the per-band statistics it scales with.
NORMALIZATION_SCOPES = ('scene', 'tile')
#: The ``metainfo`` keys a contract adds to MMSeg's ``classes`` / ``palette``.
CONTRACT_METAINFO_KEYS = ('modalities', 'ignore_index', 'tile_size')
_METHODS = ('minmax', 'zscore', 'none')


def tile_size_of(test_cfg: Mapping[str, Any] | None,
                 preprocessor_size: int | Sequence[int] | None
                 ) -> tuple[int, int] | None:
    """The input size a model is tested at: the contract's ``tile_size``.

    The ``crop_size`` of MMSeg's slide inference (``test_cfg`` with
    ``mode='slide'``), else the data preprocessor's ``size``.

    Args:
        test_cfg: The model's ``test_cfg`` (a model's or a config's).
        preprocessor_size: Its data preprocessor's ``size``.

    Returns:
        (rows, cols), or None when neither is set (any size).
    """
    test_cfg = test_cfg or {}
    size = None
    if test_cfg.get('mode') == 'slide':
        size = test_cfg.get('crop_size')
    if not size:
        size = preprocessor_size
    if not size:
        return None
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[-1])


@dataclass(frozen=True)
class ModalitySpec:
    """One modality of a dataset's stacked input.

    Attributes:
        name: Modality name (``'hsi'``, ``'lidar'``, ``'optical'``,
            ``'dsm'``): no dots, models key modules by it.
        bands: Channels of this modality in the stacked input.
        normalization: How the dataset scaled the raw values per band:
            ``'minmax'``, ``'zscore'`` or ``'none'``.
        statistics_scope: Over what the per-band statistics are computed:
            ``'scene'`` (a whole hyperspectral scene) or ``'tile'`` (each
            ISPRS tile, also for clips cut from it).
        nodata_fill: Value the raster's no-data pixels get after scaling,
            or None where no-data is an error.
        edge_padding: Rows / columns this raster may fall short of the
            first modality's (its last row / column is repeated).
    """

    name: str
    bands: int
    normalization: str = 'none'
    statistics_scope: str = 'scene'
    nodata_fill: float | None = None
    edge_padding: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or \
                '.' in self.name:
            raise ValueError(f'Modality name {self.name!r} must be a '
                             'non-empty string without dots.')
        if isinstance(self.bands, bool) or int(self.bands) != self.bands \
                or self.bands < 1:
            raise ValueError(f'Modality {self.name!r} needs a positive band '
                             f'count, got {self.bands!r}.')
        if self.normalization not in _METHODS:
            raise ValueError(
                f'Modality {self.name!r}: normalization must be one of '
                f'{_METHODS}, got {self.normalization!r}.')
        if self.statistics_scope not in NORMALIZATION_SCOPES:
            raise ValueError(
                f'Modality {self.name!r}: statistics_scope must be one of '
                f'{NORMALIZATION_SCOPES}, got {self.statistics_scope!r}.')
        if self.edge_padding < 0:
            raise ValueError(f'Modality {self.name!r}: edge_padding must be '
                             f'>= 0, got {self.edge_padding}.')

    def to_dict(self) -> dict[str, Any]:
        """Plain-value form, as stored in ``metainfo['modalities']``."""
        return dict(name=self.name, bands=int(self.bands),
                    normalization=self.normalization,
                    statistics_scope=self.statistics_scope,
                    nodata_fill=None if self.nodata_fill is None
                    else float(self.nodata_fill),
                    edge_padding=int(self.edge_padding))

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> 'ModalitySpec':
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        unknown = set(entry) - {
            'name', 'bands', 'normalization', 'statistics_scope',
            'nodata_fill', 'edge_padding'
        }
        if unknown:
            raise ValueError(f'Unknown modality keys {sorted(unknown)} in '
                             f'{dict(entry)!r}.')
        return cls(**dict(entry))


@dataclass(frozen=True)
class DataContract:
    """What a dataset serves; see the module docstring.

    Attributes:
        modalities: The modalities in stacking order.
        classes: Class names, index = label value.
        palette: One RGB colour per class.
        ignore_index: Label value of unscored pixels.
        tile_size: (rows, cols) of the inputs inference should use, or None
            (the model takes any size). Set from the model when training
            saves a checkpoint; datasets leave it None.
    """

    modalities: tuple[ModalitySpec, ...]
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...] = field(default=())
    ignore_index: int = 255
    tile_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        names = [m.name for m in self.modalities]
        if not names:
            raise ValueError('A data contract needs at least one modality.')
        if len(set(names)) != len(names):
            raise ValueError(f'Modalities {names} name one twice.')
        if self.palette and len(self.palette) != len(self.classes):
            raise ValueError(
                f'{len(self.classes)} classes but {len(self.palette)} '
                'palette colours.')

    @property
    def modality_channels(self) -> 'OrderedDict[str, int]':
        """Modality -> bands in stacking order."""
        return OrderedDict((m.name, m.bands) for m in self.modalities)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def modality(self, name: str) -> ModalitySpec:
        """The spec of one modality.

        Raises:
            KeyError: If the contract has no such modality (names them).
        """
        for spec in self.modalities:
            if spec.name == name:
                return spec
        raise KeyError(f'No modality {name!r} in the data contract '
                       f'({list(self.modality_channels)}).')

    def with_tile_size(self, tile_size: Sequence[int] | None
                       ) -> 'DataContract':
        """A copy with ``tile_size`` set (None clears it)."""
        size = None if tile_size is None else \
            (int(tile_size[0]), int(tile_size[-1]))
        return replace(self, tile_size=size)

    def to_metainfo(self) -> dict[str, Any]:
        """The contract as ``metainfo`` keys of plain values."""
        return dict(
            classes=tuple(self.classes),
            palette=[list(colour) for colour in self.palette],
            modalities=[m.to_dict() for m in self.modalities],
            ignore_index=int(self.ignore_index),
            tile_size=None if self.tile_size is None else list(
                self.tile_size))

    def add_to_metainfo(self, metainfo: dict[str, Any]) -> dict[str, Any]:
        """Write the contract's keys into a dataset's ``metainfo``, in place.

        ``classes`` and ``palette`` already there are kept (MMSeg's
        ``metainfo`` argument may rename or recolour them); the contract's
        own keys (:data:`CONTRACT_METAINFO_KEYS`) are set.

        Returns:
            The same ``metainfo``.
        """
        values = self.to_metainfo()
        for key in ('classes', 'palette'):
            metainfo.setdefault(key, values[key])
        for key in CONTRACT_METAINFO_KEYS:
            metainfo[key] = values[key]
        return metainfo

    @classmethod
    def from_metainfo(cls, metainfo: Mapping[str, Any] | None
                      ) -> 'DataContract | None':
        """Read a contract from ``metainfo`` / a checkpoint's dataset_meta.

        Returns:
            The contract, or None when ``metainfo`` declares no
            ``modalities`` (a dataset or checkpoint from before contracts,
            or a plain MMSeg dataset).
        """
        if not metainfo or not metainfo.get('modalities'):
            return None
        palette = metainfo.get('palette') or ()
        tile_size = metainfo.get('tile_size')
        return cls(
            modalities=tuple(
                ModalitySpec.from_dict(m) for m in metainfo['modalities']),
            classes=tuple(metainfo.get('classes') or ()),
            palette=tuple(tuple(int(v) for v in colour)
                          for colour in palette),
            ignore_index=int(metainfo.get('ignore_index', 255)),
            tile_size=None if tile_size is None else
            (int(tile_size[0]), int(tile_size[-1])))
