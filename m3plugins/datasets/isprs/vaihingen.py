"""ISPRS Vaihingen with the DSM and the eroded labels.

API:
    ISPRSVaihingen(root='data', split='train', tiles=None, optical='IRRG',
                   label_kind='noBoundary', dsm_normalization='minmax',
                   dsm_edge_padding=None, transforms=None, checksum=False)
        same interface as :class:`~m3plugins.datasets.isprs.ISPRSPotsdam`;
        tile ids are area numbers as strings ('1', '3', ...).
    VAIHINGEN_SPLITS: split name -> area ids

Built on TorchGeo 0.8.1's :class:`~torchgeo.datasets.Vaihingen2D` (its area
splits, archive names and MD5s are reused), which reads only the orthophoto
and the full labels; this class adds the DSM, the eroded labels and per-tile
DSM scaling. Its ``__init__`` replaces the parent's, which would extract
archives and silently skip missing areas.

Facts (ISPRS 2D Semantic Labeling Contest - Vaihingen,
https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-vaihingen.aspx;
doi:10.5194/isprsannals-I-3-293-2012): 33 areas of about 2000 x 2500 pixels
at 9 cm; true orthophotos as 3-band uint8 GeoTIFFs in IR, R, G order (the
only optical variant, ``'IRRG'``; TorchGeo calls it RGB), a float32 DSM per
area of the same size, RGB colour label maps (full, and eroded
``_noBoundary`` with boundaries black).

Layout under ``root`` (first path = what the error message asks for)::

    top/top_mosaic_09cm_area{N}.tif          (ISPRS_semantic_labeling_
                                              Vaihingen.zip)
    dsm/dsm_09cm_matching_area{N}.tif        (same archive)
    top_mosaic_09cm_area{N}_noBoundary.tif   (..._ground_truth_eroded_
                                              COMPLETE.zip; or in eroded/)
    top_mosaic_09cm_area{N}.tif              (label_kind='full':
                                              ..._ground_truth_COMPLETE.zip,
                                              TorchGeo's layout; or in
                                              gts_for_participants/, which
                                              holds the training areas only)

Splits (TorchGeo's lists): ``'train'`` 16 areas
(1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37), ``'test'``
17 areas (2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38).
"""
import os
from typing import ClassVar

from torchgeo.datasets import Vaihingen2D

from .base import ISPRSMultimodalTiles

__all__ = ['ISPRSVaihingen', 'VAIHINGEN_SPLITS']


def _areas_of(torchgeo_split: str) -> tuple[str, ...]:
    """TorchGeo's ``top_mosaic_09cm_area{N}.tif`` -> sorted ``'{N}'``."""
    prefix, suffix = 'top_mosaic_09cm_area', '.tif'
    areas = [name[len(prefix):-len(suffix)]
             for name in Vaihingen2D.splits[torchgeo_split]]
    return tuple(sorted(areas, key=int))


#: Split name -> area ids.
VAIHINGEN_SPLITS: dict[str, tuple[str, ...]] = {
    'train': _areas_of('train'),
    'test': _areas_of('test'),
}


class ISPRSVaihingen(ISPRSMultimodalTiles, Vaihingen2D):
    """ISPRS Vaihingen areas: IRRG orthophoto + DSM + labels.

    See the module docstring for the file layout, splits and facts; the
    arguments are those of :class:`ISPRSMultimodalTiles.__init__`.
    """

    benchmark_name: ClassVar[str] = 'ISPRS Vaihingen'
    benchmark_url: ClassVar[str] = (
        'https://www.isprs.org/education/benchmarks/UrbanSemLab/'
        '2d-sem-label-vaihingen.aspx')
    optical_variants: ClassVar[dict[str, tuple[str, ...]]] = {
        'IRRG': ('infrared', 'red', 'green'),
    }
    default_optical: ClassVar[str] = 'IRRG'
    tile_splits: ClassVar[dict[str, tuple[str, ...]]] = VAIHINGEN_SPLITS

    def _path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def optical_candidates(self, tile: str) -> list[str]:
        """Paths tried for the optical file of ``tile``, layout first."""
        return [self._path('top', f'top_mosaic_09cm_area{tile}.tif')]

    def dsm_candidates(self, tile: str) -> list[str]:
        """Paths tried for the DSM file of ``tile``, layout first."""
        name = f'dsm_09cm_matching_area{tile}.tif'
        return [self._path('dsm', name), self._path(name)]

    def label_candidates(self, tile: str) -> list[str]:
        """Paths tried for the label file of ``tile``, layout first."""
        if self.label_kind == 'noBoundary':
            name = f'top_mosaic_09cm_area{tile}_noBoundary.tif'
            return [self._path(name), self._path('eroded', name)]
        name = f'top_mosaic_09cm_area{tile}.tif'
        return [self._path(name), self._path('gts_for_participants', name)]

    def archives_needed(self) -> list[tuple[str, str]]:
        """(archive, what it gives) rows for the missing-data report."""
        rows = [('ISPRS_semantic_labeling_Vaihingen.zip',
                 'gives top/top_mosaic_09cm_area{N}.tif and '
                 'dsm/dsm_09cm_matching_area{N}.tif')]
        if self.label_kind == 'noBoundary':
            rows.append(
                ('ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_'
                 'COMPLETE.zip', 'extract into root (or eroded/): '
                 'top_mosaic_09cm_area{N}_noBoundary.tif'))
        else:
            rows.append(
                ('ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip',
                 'extract into root: top_mosaic_09cm_area{N}.tif'))
        return rows
