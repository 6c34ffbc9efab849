"""ISPRS Potsdam / Vaihingen tiles served to MMSeg's pipeline.

API (registered in ``mmseg.registry.DATASETS``):
    ISPRSPotsdamDataset(data_root, split='train', tiles=None, optical='RGB',
                        label_kind='noBoundary', dsm_normalization='minmax',
                        dsm_edge_padding=None, precompute_dsm_statistics=True,
                        pipeline=[], ...)
    ISPRSVaihingenDataset(...)   # same, optical='IRRG', area ids as tiles

One data item per tile (not per crop), with the keys::

    img_path        optical GeoTIFF        dsm_path       DSM GeoTIFF
    seg_map_path    colour label GeoTIFF   tile           tile id
    dsm_statistics  whole-tile DSM BandStatistics (or None)
    dsm_normalization, dsm_edge_padding, modality_channels, label_map,
    reduce_zero_label, seg_fields

The loading transforms
(:mod:`m3plugins.datasets.transforms.multimodal_tile_loading`) turn an
item into ``img`` (h, w, C + 1) float32 and ``gt_seg_map`` (h, w) uint8:
``LoadRandomMultimodalWindow`` reads one random window per sample
(training), ``LoadMultimodalTile`` the whole tile (validation / test, for
MMSeg's slide inference). A training epoch therefore has one random crop per
tile; the iteration-based schedules of the configs do not depend on it (wrap
the dataset in mmengine's ``RepeatDataset`` for epoch-based ones).

Image convention: optical bands 0..255 (float32, not normalised; the
model's ``data_preprocessor`` mean/std do that) followed by the DSM scaled
per tile (``'minmax'``: [0, 1]). Do not set ``bgr_to_rgb`` in the
preprocessor: bands are in file order (RGB, IRRG or RGBIR).

File resolution, splits, the error for missing data
(:class:`~m3plugins.io.file_discovery.MissingDataError`, a TorchGeo
``DatasetNotFoundError``) are those of the TorchGeo-style classes
:class:`~m3plugins.datasets.isprs.ISPRSPotsdam` /
:class:`~m3plugins.datasets.isprs.ISPRSVaihingen`, which these wrap. With
``precompute_dsm_statistics`` (default) the DSM statistics of every tile are
computed once when the dataset is built (0.5-1.2 s per 6000 x 6000 DSM on
a busy 2-core machine, ``tools/benchmark_isprs_crops.py``) and travel with
the data items to the workers; otherwise each worker computes them on first
use of a tile and caches them.

Example config::

    train_dataloader = dict(dataset=dict(
        type='ISPRSPotsdamDataset', data_root='data/potsdam',
        split='train_mobanet', optical='RGB',
        pipeline=[dict(type='LoadRandomMultimodalWindow', crop_size=256),
                  dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                  dict(type='RandomFlip', prob=0.5, direction='vertical'),
                  dict(type='PackSegInputs')]))
"""
from collections.abc import Sequence
from typing import ClassVar

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .base import DEFAULT_DSM_NORMALIZATION, ISPRSMultimodalTiles
from .classes import IGNORE_INDEX, ISPRS_CLASSES, ISPRS_PALETTE
from .potsdam import ISPRSPotsdam
from .tiles import dsm_statistics
from .vaihingen import ISPRSVaihingen

__all__ = ['ISPRSPotsdamDataset', 'ISPRSVaihingenDataset']


class _ISPRSSegDataset(BaseSegDataset):
    """MMSeg dataset over the tiles of an :class:`ISPRSMultimodalTiles`.

    Args:
        data_root: Directory holding the extracted ISPRS archives.
        split: Split name of the tile dataset (ignored when ``tiles``).
        tiles: Explicit tile ids overriding ``split`` (demo configs).
        optical: Optical variant (None: the benchmark's default).
        label_kind: ``'noBoundary'`` or ``'full'``.
        dsm_normalization: ``'minmax'``, ``'zscore'`` or ``'none'``.
        dsm_edge_padding: Rows / columns a DSM may fall short of its optical
            image (None: the benchmark's default, 1 for Potsdam).
        precompute_dsm_statistics: Compute each tile's DSM statistics once
            here instead of lazily in every worker.
        check_georeference: Refuse tiles whose georeferenced modality files
            lie on different grids (every tile's sizes, band counts and
            georeference are checked from the file headers when the dataset
            is built; see :class:`ISPRSMultimodalTiles`).
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments
            (``pipeline``, ``test_mode``, ``metainfo``, ``indices``...).
    """

    METAINFO: ClassVar[dict] = dict(
        classes=ISPRS_CLASSES,
        palette=[list(colour) for colour in ISPRS_PALETTE])
    tile_dataset_class: ClassVar[type[ISPRSMultimodalTiles]]

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 tiles: Sequence[str] | None = None,
                 optical: str | None = None,
                 label_kind: str = 'noBoundary',
                 dsm_normalization: str = DEFAULT_DSM_NORMALIZATION,
                 dsm_edge_padding: int | None = None,
                 precompute_dsm_statistics: bool = True,
                 check_georeference: bool = True,
                 **kwargs) -> None:
        self.split = split
        self.tiles = tiles
        self.optical = optical
        self.label_kind = label_kind
        self.dsm_normalization = dsm_normalization
        self.dsm_edge_padding = dsm_edge_padding
        self.precompute_dsm_statistics = precompute_dsm_statistics
        self.check_georeference = check_georeference
        kwargs.setdefault('ignore_index', IGNORE_INDEX)
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(data_root=data_root, **kwargs)
        contract = self.tile_dataset_class.declared_contract(
            optical, dsm_normalization, dsm_edge_padding, self.ignore_index)
        contract.add_to_metainfo(self._metainfo)

    def load_data_list(self) -> list[dict]:
        """One item per tile; raises MissingDataError if incomplete."""
        tiles = self.tile_dataset_class(
            root=self.data_root,
            split=self.split,
            tiles=self.tiles,
            optical=self.optical,
            label_kind=self.label_kind,
            dsm_normalization=self.dsm_normalization,
            dsm_edge_padding=self.dsm_edge_padding,
            check_georeference=self.check_georeference)
        self.modality_channels = dict(tiles.modality_channels)
        data_list = []
        for files in tiles.files:
            stats = None
            if (self.precompute_dsm_statistics
                    and self.dsm_normalization != 'none'):
                stats = dsm_statistics(files.dsm)
            data_list.append(
                dict(
                    img_path=files.optical,
                    dsm_path=files.dsm,
                    seg_map_path=files.label,
                    tile=files.tile,
                    dsm_statistics=stats,
                    dsm_normalization=self.dsm_normalization,
                    dsm_edge_padding=tiles.dsm_edge_padding,
                    modality_channels=self.modality_channels,
                    label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label,
                    seg_fields=[]))
        return data_list


@DATASETS.register_module()
class ISPRSPotsdamDataset(_ISPRSSegDataset):
    """ISPRS Potsdam for MMSeg: RGB / IRRG / RGBIR + DSM tiles.

    Splits ``'train'`` (24 tiles), ``'test'`` (14), ``'train_mobanet'``
    (23, without 7_10); layout and facts in
    :mod:`m3plugins.datasets.isprs.potsdam`. Arguments as
    :class:`_ISPRSSegDataset` (``optical`` defaults to ``'RGB'``).
    """
    tile_dataset_class = ISPRSPotsdam


@DATASETS.register_module()
class ISPRSVaihingenDataset(_ISPRSSegDataset):
    """ISPRS Vaihingen for MMSeg: IRRG + DSM areas.

    Splits ``'train'`` (16 areas), ``'test'`` (17); layout and facts in
    :mod:`m3plugins.datasets.isprs.vaihingen`. Arguments as
    :class:`_ISPRSSegDataset`.
    """
    tile_dataset_class = ISPRSVaihingen
