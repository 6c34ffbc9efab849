"""Shared machinery of the TorchGeo-style ISPRS Potsdam / Vaihingen datasets.

API (for :mod:`.potsdam` and :mod:`.vaihingen`, not for users):
    ISPRSMultimodalTiles  # mixin placed before Potsdam2D / Vaihingen2D

A subclass states the facts of its benchmark (class attributes below) and
how a tile id maps to candidate file paths; this mixin resolves the files,
verifies them (a missing file raises
:class:`~m3plugins.io.file_discovery.MissingDataError` saying which
archives to request from ISPRS and how to lay them out), and serves samples
``{'image': (C + 1, H, W) float32, 'mask': (H, W) int64}`` with the optical
bands first and the scaled DSM last (the channel order of
:func:`m3plugins.utils.modalities.stack_modalities`).
"""
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import torch
from matplotlib.figure import Figure
from rasterio.windows import Window
from torch import Tensor
from torchgeo.datasets.utils import check_integrity

from ...io.file_discovery import (
    MissingDataError,
    locate_files,
    missing_data_report,
)
from ...structures import DataContract, ModalitySpec
from ...utils.modalities import stack_modalities
from ..normalization import NORMALIZATION_METHODS
from .classes import (
    IGNORE_INDEX,
    ISPRS_CLASSES,
    ISPRS_PALETTE,
    indices_to_colour_labels,
)
from .tile_ids import resolve_tile_ids
from .tiles import (
    DSM_NODATA_FILL,
    TileFiles,
    check_tile,
    read_tile,
    tile_shape,
)

__all__ = ['ISPRSMultimodalTiles', 'LABEL_KINDS']

#: ``'noBoundary'``: eroded labels, boundaries ignored (the papers' protocol);
#: ``'full'``: every pixel labelled.
LABEL_KINDS = ('noBoundary', 'full')
#: How the DSM is scaled per tile when no ``dsm_normalization`` is given
#: (MoBaNet, arXiv 2603.17705: min-max per tile).
DEFAULT_DSM_NORMALIZATION = 'minmax'

class ISPRSMultimodalTiles:
    """Mixin: optical + DSM + label tiles of an ISPRS 2D labelling benchmark.

    Subclasses set:
        benchmark_name: e.g. ``'ISPRS Potsdam'``.
        benchmark_url: The ISPRS page to request the data from.
        optical_variants: Variant -> band names in file order.
        default_optical: The variant used when none is given.
        tile_splits: Split name -> tile ids.

    and implement :meth:`optical_candidates`, :meth:`dsm_candidates`,
    :meth:`label_candidates` (lists of paths, the first one is the
    documented layout) and :meth:`archives_needed`.
    """

    benchmark_name: ClassVar[str] = ''
    benchmark_url: ClassVar[str] = ''
    optical_variants: ClassVar[dict[str, tuple[str, ...]]] = {}
    default_optical: ClassVar[str] = ''
    tile_splits: ClassVar[dict[str, tuple[str, ...]]] = {}
    default_dsm_edge_padding: ClassVar[int] = 0
    classes: ClassVar[tuple[str, ...]] = ISPRS_CLASSES

    def __init__(self,
                 root: str = 'data',
                 split: str = 'train',
                 tiles: Sequence[str] | None = None,
                 optical: str | None = None,
                 label_kind: str = 'noBoundary',
                 dsm_normalization: str = DEFAULT_DSM_NORMALIZATION,
                 dsm_edge_padding: int | None = None,
                 transforms: Callable[[dict[str, Tensor]],
                                      dict[str, Tensor]] | None = None,
                 checksum: bool = False,
                 check_georeference: bool = True) -> None:
        """Resolve and verify the files of the chosen tiles.

        Args:
            root: Directory holding the extracted ISPRS archives.
            split: One of :attr:`tile_splits`; ignored when ``tiles`` is
                given.
            tiles: Explicit tile ids (e.g. ``['2_10', '3_11']``), overriding
                ``split``; this is how the demo configs pick the demo tiles.
                Ints are accepted, also the ``210`` that ``--cfg-options
                tiles=[2_10]`` becomes (see
                :func:`~m3plugins.datasets.isprs.tile_ids.resolve_tile_ids`).
            optical: Optical variant, one of :attr:`optical_variants`.
            label_kind: ``'noBoundary'`` (eroded, papers' protocol) or
                ``'full'``.
            dsm_normalization: DSM scaling per tile: ``'minmax'`` (MoBaNet),
                ``'zscore'`` or ``'none'``.
            dsm_edge_padding: Rows / columns a DSM may fall short of its
                optical image, filled by repeating its last row / column;
                None takes :attr:`default_dsm_edge_padding` (Potsdam 1: the
                official ``dsm_potsdam_03_13.tif`` is one column short;
                Vaihingen 0). Larger mismatches raise ISPRSTileError.
            transforms: Applied to each sample dict.
            checksum: Check the MD5 of the ISPRS archives found in ``root``
                against TorchGeo's recorded sums. Off by default: the tiles
                are read from the extracted files, which have no published
                sums, and TorchGeo 0.8.1 records the Potsdam label archive's
                MD5 truncated to 22 characters, so that sum can never match
                and is skipped with a warning.
            check_georeference: Refuse tiles whose georeferenced modality
                files lie on different grids (CRS, origin or pixel size).
                Files without a georeference are never compared.

        Raises:
            ValueError: For an unknown split, variant, label kind or
                normalisation.
            MissingDataError: If any file of the chosen tiles is
                missing; the message lists them and the archives to get.
            RuntimeError: If ``checksum`` and an archive's MD5 differs.
            ISPRSTileError: For tile ids not in the benchmark (what was
                received and how to write ids), or if a tile's files
                disagree, checked from their
                headers (and last block) here, before any training: pixel
                sizes beyond the DSM tolerance, band counts, georeference,
                unreadable or truncated files. The message names the tile,
                the files, both numbers and the fix.
        """
        if optical is None:
            optical = self.default_optical
        self._check_choice('optical', optical, self.optical_variants)
        self._check_choice('label_kind', label_kind, LABEL_KINDS)
        self._check_choice('dsm_normalization', dsm_normalization,
                           NORMALIZATION_METHODS)
        if tiles is None:
            self._check_choice('split', split, self.tile_splits)
            tiles = self.tile_splits[split]
        else:
            tiles = resolve_tile_ids(
                tiles, {t for ids in self.tile_splits.values() for t in ids},
                self.benchmark_name)
        self.root = str(root)
        self.split = split
        self.tiles: list[str] = list(tiles)
        self.optical = optical
        self.label_kind = label_kind
        self.dsm_normalization = dsm_normalization
        if dsm_edge_padding is None:
            dsm_edge_padding = self.default_dsm_edge_padding
        if int(dsm_edge_padding) < 0:
            raise ValueError(
                f'dsm_edge_padding must be >= 0, got {dsm_edge_padding}.')
        self.dsm_edge_padding = int(dsm_edge_padding)
        self.transforms = transforms
        self.checksum = checksum
        if checksum:
            self._check_archives()
        self.check_georeference = bool(check_georeference)
        self.files: list[TileFiles] = self._resolve_files()
        self._check_tiles()

    # -- facts a subclass provides ---------------------------------------
    def optical_candidates(self, tile: str) -> list[str]:
        """Accepted paths of a tile's orthophoto, the documented one first.

        Args:
            tile: Tile id.

        Returns:
            list[str]: Paths under ``root``.
        """
        raise NotImplementedError

    def dsm_candidates(self, tile: str) -> list[str]:
        """Accepted paths of a tile's DSM, the documented one first.

        Args:
            tile: Tile id.

        Returns:
            list[str]: Paths under ``root``.
        """
        raise NotImplementedError

    def label_candidates(self, tile: str) -> list[str]:
        """Accepted paths of a tile's label map, the documented one first.

        Args:
            tile: Tile id.

        Returns:
            list[str]: Paths under ``root``.
        """
        raise NotImplementedError

    def archives_needed(self) -> list[tuple[str, str]]:
        """(archive, how to extract it) for the chosen variant and labels."""
        raise NotImplementedError

    # -- resolution and verification --------------------------------------
    @staticmethod
    def _check_choice(name: str, value, choices) -> None:
        if value not in choices:
            raise ValueError(
                f'Unknown {name} {value!r}; choose one of {list(choices)}.')

    def _check_archives(self) -> None:
        for filename, md5 in zip(self.filenames, self.md5s):
            path = os.path.join(self.root, filename)
            if not os.path.isfile(path):
                continue
            if len(md5) != 32:
                warnings.warn(
                    f'Skipping the MD5 check of {filename}: TorchGeo records '
                    f'its sum truncated to {len(md5)} characters.')
                continue
            if not check_integrity(path, md5):
                raise RuntimeError(
                    f'{path} is corrupted (MD5 differs from {md5}); '
                    'download it again.')

    def _resolve_files(self) -> list[TileFiles]:
        expected = {}
        for tile in self.tiles:
            expected[f'tile {tile} optical'] = self.optical_candidates(tile)
            expected[f'tile {tile} DSM'] = self.dsm_candidates(tile)
            expected[f'tile {tile} label'] = self.label_candidates(tile)
        found, missing = locate_files(expected)
        if missing:
            raise MissingDataError(self._missing_message(missing),
                                   missing=list(missing))
        return [
            TileFiles(tile, found[f'tile {tile} optical'],
                      found[f'tile {tile} DSM'], found[f'tile {tile} label'])
            for tile in self.tiles
        ]

    def _check_tiles(self) -> None:
        """Check every tile's files from their headers.

        See :func:`~m3plugins.datasets.isprs.tiles.check_tile`.
        """
        optical_bands = len(self.optical_variants[self.optical])
        for files in self.files:
            check_tile(files, optical_bands, self.dsm_edge_padding,
                       self.check_georeference)

    def _missing_message(self, missing: dict[str, list[str]]) -> str:
        what = (f'{self.benchmark_name} ({self.optical} + DSM, '
                f'{self.label_kind} labels)')
        incomplete = {tile for tile in self.tiles
                      if any(item.startswith(f'tile {tile} ')
                             for item in missing)}
        obtain = [
            f'The data cannot be downloaded automatically and may not be '
            f'redistributed: request it from the ISPRS benchmark page '
            f'{self.benchmark_url} and extract these archives into '
            f'{self.root!r}:'
        ]
        obtain += [f'  {archive}: {how}' for archive, how in
                   self.archives_needed()]
        example = self.tiles[0]
        return missing_data_report(
            what, self.root, missing, obtain=obtain,
            layout=[f'(tile {example}) {self.optical_candidates(example)[0]}',
                    f'(tile {example}) {self.dsm_candidates(example)[0]}',
                    f'(tile {example}) {self.label_candidates(example)[0]}'],
            fix='extract the archives above into root. To try the pipeline '
            'without the data: python tools/demo.py --demo mobanet '
            '(synthetic tiles in the Potsdam layout, written by '
            'm3plugins.demo.isprs_tiles.make_demo_isprs).',
            summary=f'{len(incomplete)} of {len(self.tiles)} requested '
            'tiles are incomplete')

    # -- data contract -----------------------------------------------------
    @classmethod
    def declared_contract(cls,
                          optical: str | None = None,
                          dsm_normalization: str = DEFAULT_DSM_NORMALIZATION,
                          dsm_edge_padding: int | None = None,
                          ignore_index: int = IGNORE_INDEX) -> DataContract:
        """The contract of tiles read with these arguments, no files read.

        Args:
            optical: Optical variant (None: :attr:`default_optical`).
            dsm_normalization: DSM scaling per tile.
            dsm_edge_padding: Tolerated DSM shortfall (None: the
                benchmark's :attr:`default_dsm_edge_padding`).
            ignore_index: Label of the boundary / unknown pixels.

        Returns:
            DataContract: Optical bands as read (``'none'``: the model's
            data preprocessor standardises them), then the DSM scaled per
            ``'tile'`` with no-data set to :data:`DSM_NODATA_FILL`; the six
            ISPRS classes and colours.

        Raises:
            ValueError: For an unknown variant or normalisation.
        """
        optical = optical or cls.default_optical
        cls._check_choice('optical', optical, cls.optical_variants)
        cls._check_choice('dsm_normalization', dsm_normalization,
                          NORMALIZATION_METHODS)
        padding = cls.default_dsm_edge_padding if dsm_edge_padding is None \
            else int(dsm_edge_padding)
        return DataContract(
            modalities=(
                ModalitySpec('optical', len(cls.optical_variants[optical]),
                             'none', statistics_scope='tile'),
                ModalitySpec('dsm', 1, dsm_normalization,
                             statistics_scope='tile',
                             nodata_fill=DSM_NODATA_FILL,
                             edge_padding=padding)),
            classes=tuple(cls.classes),
            palette=tuple(ISPRS_PALETTE),
            ignore_index=int(ignore_index))

    # -- samples -----------------------------------------------------------
    @property
    def modality_channels(self) -> dict[str, int]:
        """Channels per modality in stacking order (optical, then DSM)."""
        return OrderedDict(
            optical=len(self.optical_variants[self.optical]), dsm=1)

    def __len__(self) -> int:
        return len(self.files)

    def tile_shape(self, index: int) -> tuple[int, int]:
        """(height, width) of tile ``index``, checking all modalities."""
        return tile_shape(self.files[index], self.dsm_edge_padding)

    def read(self, index: int,
             window: Window | None = None) -> dict[str, np.ndarray]:
        """Arrays of tile ``index`` (or a window of it).

        Returns:
            dict: ``image`` (h, w, C + 1) float32 (optical 0..255 then the
            scaled DSM) and ``label`` (h, w) uint8 (255 = ignore).
        """
        arrays = read_tile(self.files[index], window,
                           dsm_normalization=self.dsm_normalization,
                           dsm_edge_padding=self.dsm_edge_padding)
        image = stack_modalities(
            OrderedDict(optical=arrays['optical'], dsm=arrays['dsm']))
        return dict(image=image, label=arrays['label'])

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Whole tile ``index``.

        Returns:
            dict: ``image`` (C + 1, H, W) float32, ``mask`` (H, W) int64 with
            255 at ignored pixels.
        """
        arrays = self.read(index)
        sample = {
            'image': torch.from_numpy(arrays['image']).permute(2, 0, 1),
            'mask': torch.from_numpy(arrays['label']).long(),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def plot(self,
             sample: dict[str, Tensor],
             show_titles: bool = True,
             suptitle: str | None = None) -> Figure:
        """Plot optical bands 1-3, the DSM, the mask and any prediction.

        Args:
            sample: A sample of :meth:`__getitem__` (optionally with
                ``prediction``).
            show_titles: Title each panel.
            suptitle: Figure title.

        Returns:
            Figure: The rendered sample.
        """
        import matplotlib.pyplot as plt
        image = sample['image'].numpy()
        panels = [
            ('Optical (bands 1-3)',
             np.clip(image[:3].transpose(1, 2, 0) / 255.0, 0, 1)),
            ('DSM', image[-1]),
            ('Ground truth', indices_to_colour_labels(
                sample['mask'].numpy())),
        ]
        if 'prediction' in sample:
            panels.append(('Prediction', indices_to_colour_labels(
                sample['prediction'].numpy())))
        fig, axs = plt.subplots(ncols=len(panels),
                                figsize=(4 * len(panels), 4))
        for ax, (title, array) in zip(axs, panels):
            ax.imshow(array, cmap='viridis' if array.ndim == 2 else None)
            ax.axis('off')
            if show_titles:
                ax.set_title(title)
        if suptitle is not None:
            fig.suptitle(suptitle)
        return fig
