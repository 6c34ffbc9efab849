"""ISPRS Potsdam and Vaihingen (optical + DSM) in TorchGeo and MMSeg form.

* TorchGeo-style datasets: :class:`ISPRSPotsdam`, :class:`ISPRSVaihingen`.
* MMSeg datasets (registered in ``DATASETS``): ``ISPRSPotsdamDataset``,
  ``ISPRSVaihingenDataset``; their loading transforms live in
  :mod:`m3plugins.datasets.transforms.multimodal_tile_loading`.
* MMSeg's 512 x 512 clips plus a ``dsm_dir`` (registered):
  ``ISPRSPotsdamClipsDataset``, ``ISPRSVaihingenClipsDataset``
  (:mod:`.mmseg_clips`).
"""
from .classes import (
                      IGNORE_INDEX,
                      ISPRS_CLASSES,
                      ISPRS_PALETTE,
                      colour_labels_to_indices,
                      indices_to_colour_labels,
)
from .mmseg_clips import ISPRSPotsdamClipsDataset, ISPRSVaihingenClipsDataset
from .mmseg_datasets import ISPRSPotsdamDataset, ISPRSVaihingenDataset
from .potsdam import POTSDAM_SPLITS, ISPRSPotsdam
from .tiles import (
    ISPRSTileError,
    TileFiles,
    dsm_statistics,
    read_tile,
    tile_shape,
)
from .vaihingen import VAIHINGEN_SPLITS, ISPRSVaihingen

__all__ = [
    'IGNORE_INDEX', 'ISPRS_CLASSES', 'ISPRS_PALETTE',
    'colour_labels_to_indices', 'indices_to_colour_labels',
    'ISPRSTileError', 'ISPRSPotsdamDataset',
    'ISPRSVaihingenDataset', 'ISPRSPotsdam',
    'POTSDAM_SPLITS', 'ISPRSVaihingen', 'VAIHINGEN_SPLITS', 'TileFiles',
    'dsm_statistics', 'read_tile', 'tile_shape', 'ISPRSPotsdamClipsDataset',
    'ISPRSVaihingenClipsDataset'
]
