"""ISPRS Potsdam with the DSM, eroded labels and every optical variant.

API:
    ISPRSPotsdam(root='data', split='train', tiles=None, optical='RGB',
                 label_kind='noBoundary', dsm_normalization='minmax',
                 dsm_edge_padding=None, transforms=None, checksum=False)
        len(ds) tiles; ds[i] -> {'image': (C + 1, H, W) float32,
                                 'mask': (H, W) int64, 255 = ignore}
        ds.read(i, window) -> {'image': (h, w, C + 1), 'label': (h, w)} arrays
        ds.files[i] -> TileFiles(tile, optical, dsm, label)
        ds.modality_channels -> {'optical': C, 'dsm': 1}
    POTSDAM_SPLITS: split name -> tile ids

Built on TorchGeo 0.8.1's :class:`~torchgeo.datasets.Potsdam2D` (its tile
splits, archive names and MD5s are reused), which reads only the RGBIR
orthophoto and the full labels. This class adds the DSM, the eroded
``noBoundary`` labels, the RGB / IRRG / RGBIR variants, MoBaNet's split and
per-tile DSM scaling. Its ``__init__`` replaces the parent's, which would
extract archives and silently skip missing tiles; here a missing file is an
error that says what to get.

Facts (ISPRS 2D Semantic Labeling Contest - Potsdam,
https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-potsdam.aspx;
doi:10.5194/isprsannals-I-3-293-2012): 38 tiles of 6000 x 6000 pixels at
5 cm; true orthophotos as uint8 GeoTIFFs (``2_Ortho_RGB``: R, G, B;
``3_Ortho_IRRG``: IR, R, G; ``4_Ortho_RGBIR``: R, G, B, IR), a float32 DSM
per tile, RGB colour label maps (full, and eroded ``noBoundary`` with
boundaries black). Tile ids are ``{row}_{col}``; the DSM file name pads both
to two digits (``2_10`` -> ``dsm_potsdam_02_10.tif``, ``6_7`` ->
``dsm_potsdam_06_07.tif``).

Layout under ``root`` (the first path of each row is what the error message
asks for; the others are accepted too)::

    1_DSM/dsm_potsdam_{RR}_{CC}.tif                  (or in root)
    2_Ortho_RGB/top_potsdam_{R}_{C}_RGB.tif          (optical='RGB')
    3_Ortho_IRRG/top_potsdam_{R}_{C}_IRRG.tif        (optical='IRRG')
    4_Ortho_RGBIR/top_potsdam_{R}_{C}_RGBIR.tif      (optical='RGBIR';
                                                      TorchGeo's layout)
    5_Labels_all_noBoundary/
        top_potsdam_{R}_{C}_label_noBoundary.tif     (or in root)
    top_potsdam_{R}_{C}_label.tif                    (label_kind='full';
                                                      TorchGeo's layout;
                                                      or 5_Labels_all/)

Each orthophoto folder may also be given flat in ``root``. The ISPRS
download holds ``1_DSM.rar``, ``2_Ortho_RGB.zip``, ``3_Ortho_IRRG.zip``,
``4_Ortho_RGBIR.zip``, ``5_Labels_all.zip`` and
``5_Labels_all_noBoundary.zip`` (plus ``1_DSM_normalisation.zip``, the
normalised DSM as JPEG, not used here).

Splits (TorchGeo's lists): ``'train'`` 24 tiles,
``'test'`` 14 tiles, ``'train_mobanet'`` the 23 training tiles of MoBaNet's
official code (arXiv 2603.17705), which leaves out ``7_10``.

Known defect of the official data: ``1_DSM/dsm_potsdam_03_13.tif`` (a test
tile) is 5999 columns wide against 6000 for its orthophoto; by default
(``dsm_edge_padding=1``) its last column is repeated. Any larger mismatch
is an error naming the modality.

Checksums: TorchGeo 0.8.1 records the MD5 of ``5_Labels_all.zip`` truncated
to 22 characters (``cf7403c1a97c0d279414db``), so its ``checksum=True``
cannot pass on the real archive. Here ``checksum`` defaults to False and,
when set, checks only archives with a full 32-character sum.
"""
import os
from typing import ClassVar

from torchgeo.datasets import Potsdam2D

from .base import ISPRSMultimodalTiles

__all__ = ['ISPRSPotsdam', 'POTSDAM_SPLITS']


def _tile_key(tile: str) -> tuple[int, ...]:
    return tuple(int(part) for part in tile.split('_'))


def _tiles_of(torchgeo_split: str) -> tuple[str, ...]:
    """TorchGeo's ``top_potsdam_{R}_{C}`` names -> sorted ``'{R}_{C}'``."""
    prefix = 'top_potsdam_'
    tiles = [name[len(prefix):] for name in Potsdam2D.splits[torchgeo_split]]
    return tuple(sorted(tiles, key=_tile_key))


#: Tile used in TorchGeo's and the ISPRS training split but not by MoBaNet.
MOBANET_EXCLUDED_TILES = ('7_10', )

#: Split name -> tile ids.
POTSDAM_SPLITS: dict[str, tuple[str, ...]] = {
    'train': _tiles_of('train'),
    'test': _tiles_of('test'),
    'train_mobanet': tuple(t for t in _tiles_of('train')
                           if t not in MOBANET_EXCLUDED_TILES),
}


class ISPRSPotsdam(ISPRSMultimodalTiles, Potsdam2D):
    """ISPRS Potsdam tiles: optical (RGB / IRRG / RGBIR) + DSM + labels.

    See the module docstring for the file layout, splits and facts; the
    arguments are those of :class:`ISPRSMultimodalTiles.__init__`
    (``optical`` defaults to ``'RGB'``, MoBaNet's Potsdam input).
    """

    benchmark_name: ClassVar[str] = 'ISPRS Potsdam'
    benchmark_url: ClassVar[str] = (
        'https://www.isprs.org/education/benchmarks/UrbanSemLab/'
        '2d-sem-label-potsdam.aspx')
    optical_variants: ClassVar[dict[str, tuple[str, ...]]] = {
        'RGB': ('red', 'green', 'blue'),
        'IRRG': ('infrared', 'red', 'green'),
        'RGBIR': ('red', 'green', 'blue', 'infrared'),
    }
    default_optical: ClassVar[str] = 'RGB'
    tile_splits: ClassVar[dict[str, tuple[str, ...]]] = POTSDAM_SPLITS
    #: The official 1_DSM/dsm_potsdam_03_13.tif is 5999 columns wide.
    default_dsm_edge_padding: ClassVar[int] = 1

    #: Variant -> folder created by extracting its ISPRS archive.
    optical_folders: ClassVar[dict[str, str]] = {
        'RGB': '2_Ortho_RGB',
        'IRRG': '3_Ortho_IRRG',
        'RGBIR': '4_Ortho_RGBIR',
    }

    def _path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def optical_candidates(self, tile: str) -> list[str]:
        """Paths tried for the optical file of ``tile``, layout first."""
        name = f'top_potsdam_{tile}_{self.optical}.tif'
        return [self._path(self.optical_folders[self.optical], name),
                self._path(name)]

    def dsm_candidates(self, tile: str) -> list[str]:
        """Paths tried for the DSM file of ``tile``, layout first."""
        row, col = _tile_key(tile)
        name = f'dsm_potsdam_{row:02d}_{col:02d}.tif'
        return [self._path('1_DSM', name), self._path(name)]

    def label_candidates(self, tile: str) -> list[str]:
        """Paths tried for the label file of ``tile``, layout first."""
        if self.label_kind == 'noBoundary':
            name = f'top_potsdam_{tile}_label_noBoundary.tif'
            return [self._path('5_Labels_all_noBoundary', name),
                    self._path(name)]
        name = f'top_potsdam_{tile}_label.tif'
        return [self._path(name), self._path('5_Labels_all', name)]

    def archives_needed(self) -> list[tuple[str, str]]:
        """(archive, what it gives) rows for the missing-data report."""
        folder = self.optical_folders[self.optical]
        rows = [
            ('1_DSM.rar', 'gives 1_DSM/dsm_potsdam_{RR}_{CC}.tif'),
            (f'{folder}.zip',
             f'gives {folder}/top_potsdam_{{R}}_{{C}}_{self.optical}.tif'),
        ]
        if self.label_kind == 'noBoundary':
            rows.append(('5_Labels_all_noBoundary.zip',
                         'extract into 5_Labels_all_noBoundary/ (or root): '
                         'top_potsdam_{R}_{C}_label_noBoundary.tif'))
        else:
            rows.append(('5_Labels_all.zip',
                         'extract into root: top_potsdam_{R}_{C}_label.tif'))
        return rows
