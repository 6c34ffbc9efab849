"""An ISPRS tile's files, their checks, and its sample (or a window of it).

API:
    ISPRSTileError                                   # ValueError
    TileFiles(tile, optical, dsm, label=None)        # the files of one tile
    open_tile(files) -> context: modality -> open rasterio dataset (checked)
    tile_shape(files) -> (H, W)                      # all modalities agree
    check_tile(files, optical_bands) -> (H, W)       # headers, at build time
    dsm_statistics(path) -> BandStatistics           # whole-tile, cached
    read_tile(files, window=None, dsm_stats=None, dsm_normalization='minmax',
              with_label=True) -> dict(optical, dsm, label, tile_shape, window)

ISPRS tiles are large (Potsdam: 6000 x 6000 pixels, a 4-band uint8 image of
144 MB plus a float32 DSM of 144 MB). Training on random crops must not
decode whole tiles per sample, so every read here takes an optional
``rasterio.windows.Window`` and decodes only that window.

Conventions of the returned arrays:

* ``optical``: (h, w, C) float32 holding the file's values (0..255 for the
  ISPRS uint8 orthophotos), bands in file order (RGB, IRRG or RGBIR).
  Mean/std normalisation is left to the model's data preprocessor.
* ``dsm``: (h, w) float32 scaled with statistics of the *whole tile*
  (MoBaNet, arXiv 2603.17705: min-max per tile, so values lie in [0, 1]);
  the method is any of
  :data:`m3plugins.datasets.normalization.NORMALIZATION_METHODS`.
  The statistics are computed once per tile (strip by strip, so memory stays
  bounded) and cached per process; a window of a tile is therefore scaled
  exactly like the same region of the whole tile. DSM no-data pixels (the
  raster's declared nodata value, or NaN) are left out of the statistics
  and set to 0 after scaling.
* ``label``: (h, w) uint8 class indices via
  :func:`~m3plugins.datasets.isprs.classes.colour_labels_to_indices`
  (boundary and unknown colours -> 255).

All modalities of a tile must have the same pixel size; a mismatch raises
:class:`ISPRSTileError` naming the modality.
One exception is opt-in: ``dsm_edge_padding=n`` accepts a DSM up to ``n``
rows / columns short of the optical image and repeats its last row / column
(the official ``1_DSM/dsm_potsdam_03_13.tif``, a test tile, is 5999 columns
wide against 6000). Unreadable files raise the same error naming the tile,
the modality and the path.

Files are opened with :func:`m3plugins.io.raster_reading.open_geotiff`
(rasterio's ``NotGeoreferencedWarning`` silenced: the ISPRS Potsdam GeoTIFFs
carry no georeferencing, noted in TorchGeo's pull request #247 adding
Potsdam2D) and their georeferences compared with the package's one rule,
:func:`m3plugins.io.georeference.check_co_registration`.
"""
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

from m3plugins.io.georeference import check_co_registration, georeference_of
from m3plugins.io.raster_reading import (
    RasterReadError,
    check_decodes_to_end,
    open_geotiff,
    read_edge_padded,
)

from ..normalization import (
    BandStatistics,
    band_statistics,
    merge_band_statistics,
    normalize,
)
from .classes import colour_labels_to_indices

__all__ = [
    'ISPRSTileError', 'TileFiles', 'open_tile', 'check_tile', 'tile_shape',
    'dsm_statistics', 'read_tile'
]

#: Value DSM no-data pixels get after scaling (left out of the statistics).
DSM_NODATA_FILL = 0.0

#: Rows per strip when computing DSM statistics of a whole tile.
_STATISTICS_STRIP_ROWS = 512


class ISPRSTileError(ValueError):
    """A tile's files exist but cannot be used.

    Raised for unreadable (truncated, corrupt) rasters, modalities of
    different sizes, misaligned georeferences and wrong band counts; the
    message names the tile, the modality and the file.
    """


@dataclass(frozen=True)
class TileFiles:
    """Paths of one tile's modalities.

    Args:
        tile: Tile id, e.g. ``'2_10'`` (Potsdam) or ``'1'`` (Vaihingen area).
        optical: Optical orthophoto (uint8, 3 or 4 bands).
        dsm: Digital surface model (one float32 band).
        label: RGB colour label map, or None (no ground truth).
    """
    tile: str
    optical: str
    dsm: str
    label: str | None = None

    def modalities(self) -> dict[str, str]:
        """Modality name -> path, label included when present."""
        paths = dict(optical=self.optical, dsm=self.dsm)
        if self.label is not None:
            paths['label'] = self.label
        return paths


def _unreadable(modality: str, tile: str, path: str,
                err: Exception) -> ISPRSTileError:
    return ISPRSTileError(
        f'Cannot read the {modality} raster of tile {tile}: {path} '
        f'({err}). The file is probably truncated or corrupt; extract it '
        'again from its ISPRS archive.')


@contextmanager
def _open(path: str, modality: str, tile: str) -> Iterator:
    """Open a raster; read errors become ISPRSTileError naming the file."""
    try:
        with open_geotiff(path) as src:
            yield src
    except RasterReadError as err:
        raise _unreadable(modality, tile, path, err.__cause__ or err) \
            from err


def _size_fix(modality: str, dsm_edge_padding: int) -> str:
    """How to repair a modality whose pixel size differs from the optical."""
    if modality == 'dsm':
        return ('Fix: use the DSM of the same tile from the ISPRS archive, or '
                'resample it onto the optical grid; a DSM at most '
                f'{dsm_edge_padding} row(s)/column(s) short is accepted and '
                'padded by repeating its last row/column (dsm_edge_padding).')
    return ('Fix: use the label map of the same tile and label kind from the '
            'ISPRS archive; it must cover exactly the optical image\'s '
            'pixels.')


def _check_sizes(files: TileFiles, sources: dict[str, object],
                 dsm_edge_padding: int) -> None:
    """Raise ISPRSTileError if a modality does not cover the optical image.

    The DSM may fall short by up to ``dsm_edge_padding`` rows / columns (it
    is padded when read); anything else must match exactly.
    """
    optical = sources['optical']
    optical_size = (optical.height, optical.width)
    for modality, src in sources.items():
        if modality == 'optical':
            continue
        size = (src.height, src.width)
        if size == optical_size:
            continue
        if modality == 'dsm' and all(
                0 <= o - d <= dsm_edge_padding
                for o, d in zip(optical_size, size)):
            continue  # tolerated shortfall, padded when read
        path = files.modalities()[modality]
        raise ISPRSTileError(
            f'The modalities of tile {files.tile} differ in size: optical '
            f'{optical_size[0]}x{optical_size[1]} ({files.optical}), '
            f'{modality} {size[0]}x{size[1]} ({path}) (height x width). '
            f'{_size_fix(modality, dsm_edge_padding)}')


def _check_georeference(files: TileFiles, sources: dict[str, object]) -> None:
    """Refuse georeferenced modalities of a tile that lie on other grids.

    Files without a georeference (the Potsdam label maps, for example) are
    not compared.

    Raises:
        ISPRSTileError: Naming both files, both values and the fix.
    """
    paths = files.modalities()
    check_co_registration(
        [(modality, paths[modality], georeference_of(src))
         for modality, src in sources.items()],
        error_type=ISPRSTileError,
        context=f' of tile {files.tile}',
        fix=f'take both files of tile {files.tile} from the ISPRS archives '
        '(the same tile id), or resample one onto the other\'s grid; if '
        'they are known to match pixel for pixel, pass '
        'check_georeference=False.')


def _check_last_block(src, path: str, modality: str, tile: str) -> None:
    """Decode the raster's last block (a truncated file fails here)."""
    try:
        check_decodes_to_end(src, path)
    except RasterReadError as err:
        raise _unreadable(modality, tile, path, err.__cause__ or err) \
            from err


def check_tile(files: TileFiles,
               optical_bands: int,
               dsm_edge_padding: int = 0,
               check_georeference: bool = True) -> tuple[int, int]:
    """Check a tile from its file headers (and one block per file).

    Everything :func:`open_tile` checks (readable headers, 1-band DSM,
    3-band RGB label map, equal pixel sizes with the DSM tolerance), plus
    the optical band count, the georeference alignment of the modalities
    and that the last block of each file decodes (a truncated file fails
    here, not at the first validation).

    Args:
        files: The tile's files.
        optical_bands: Bands the optical variant has (3 for RGB / IRRG,
            4 for RGBIR).
        dsm_edge_padding: Rows / columns the DSM may fall short of the
            optical image.
        check_georeference: Compare CRS and transform of the georeferenced
            modalities.

    Returns:
        tuple[int, int]: The tile's (height, width).

    Raises:
        ISPRSTileError: Naming the tile, the modality, the file(s), both
            numbers that disagree and the fix.
    """
    with open_tile(files, files.label is not None,
                   dsm_edge_padding) as sources:
        optical = sources['optical']
        if optical.count != optical_bands:
            raise ISPRSTileError(
                f'The optical image of tile {files.tile} must have '
                f'{optical_bands} bands, {files.optical} has {optical.count}. '
                'Fix: choose the optical variant that matches the file '
                '(optical=...) or use the file of that variant.')
        if check_georeference:
            _check_georeference(files, sources)
        for modality, src in sources.items():
            _check_last_block(src, files.modalities()[modality], modality,
                              files.tile)
        return optical.height, optical.width


@contextmanager
def open_tile(files: TileFiles,
              with_label: bool = True,
              dsm_edge_padding: int = 0) -> Iterator[dict[str, object]]:
    """Open every modality of a tile once and check that they agree.

    Args:
        files: The tile's files.
        with_label: Open the label map too (requires ``files.label``).
        dsm_edge_padding: How many rows / columns the DSM may fall short of
            the optical image (filled by repeating its last row / column
            when read); 0 demands equal sizes.

    Yields:
        dict: Modality (``optical``, ``dsm``[, ``label``]) -> open rasterio
        dataset, in one ``rasterio.Env``.

    Raises:
        ISPRSTileError: For an unreadable file, modalities of different
            sizes (naming each), a DSM with more than one band, or a label
            map that is not 3-band RGB.
    """
    paths = files.modalities()
    if not with_label:
        paths.pop('label', None)
    elif 'label' not in paths:
        raise ISPRSTileError(f'Tile {files.tile} has no label file.')
    with rasterio.Env(), ExitStack() as stack:
        sources = {
            modality: stack.enter_context(_open(path, modality, files.tile))
            for modality, path in paths.items()
        }
        if sources['dsm'].count != 1:
            raise ISPRSTileError(
                f'The DSM of tile {files.tile} must have 1 band, '
                f'{files.dsm} has {sources["dsm"].count}. Fix: use the '
                'one-band float32 DSM of the ISPRS archive (1_DSM for '
                'Potsdam, dsm/ for Vaihingen).')
        if 'label' in sources and sources['label'].count != 3:
            raise ISPRSTileError(
                f'The label map of tile {files.tile} must be an RGB colour '
                f'map (3 bands), {files.label} has {sources["label"].count}. '
                'Fix: use the colour-coded label GeoTIFF of the ISPRS '
                'archive, not a class-index map.')
        _check_sizes(files, sources, dsm_edge_padding)
        yield sources


def tile_shape(files: TileFiles,
               dsm_edge_padding: int = 0) -> tuple[int, int]:
    """Pixel size of a tile, checking every modality (see :func:`open_tile`).

    Returns:
        tuple[int, int]: (height, width).
    """
    with open_tile(files, files.label is not None,
                   dsm_edge_padding) as sources:
        return sources['optical'].height, sources['optical'].width


def _read(src, window: Window | None, modality: str, tile: str,
          path: str, indexes=None) -> np.ndarray:
    try:
        return src.read(indexes, window=window, masked=modality == 'dsm')
    except RasterioError as err:
        raise _unreadable(modality, tile, path, err) from err


def _dsm_as_float(array) -> np.ndarray:
    """Masked or plain DSM band -> float32 with NaN at no-data pixels."""
    if np.ma.isMaskedArray(array):
        return np.ma.filled(array.astype(np.float32), np.nan)
    return np.asarray(array, dtype=np.float32)


@lru_cache(maxsize=256)
def _cached_statistics(path: str, mtime_ns: int, size: int) -> BandStatistics:
    with _open(path, 'dsm', os.path.basename(path)) as src:
        parts = []
        for row in range(0, src.height, _STATISTICS_STRIP_ROWS):
            rows = min(_STATISTICS_STRIP_ROWS, src.height - row)
            strip = _read(src, Window(0, row, src.width, rows), 'dsm',
                          os.path.basename(path), path, 1)
            parts.append(band_statistics(_dsm_as_float(strip)))
    return merge_band_statistics(parts)


def dsm_statistics(path: str) -> BandStatistics:
    """Statistics (min, max, mean, std) of a whole DSM tile, computed once.

    The result is cached per process, keyed by path, modification time and
    size, so every crop of a tile reuses it.

    Args:
        path: DSM GeoTIFF.

    Returns:
        BandStatistics: One-band statistics of the finite, non-nodata pixels.
    """
    stat = os.stat(path)
    return _cached_statistics(os.path.abspath(path), stat.st_mtime_ns,
                              stat.st_size)


def _read_dsm_padded(src, window: Window | None,
                     shape: tuple[int, int], files: TileFiles) -> np.ndarray:
    """Read a DSM window of a tile of ``shape``, repeating its edge.

    Where the DSM is shorter than the tile, its last row / column repeat;
    the result is float32 with NaN at no-data.
    """
    if window is None:
        window = Window(0, 0, shape[1], shape[0])
    if (src.height, src.width) == tuple(shape):
        return _dsm_as_float(_read(src, window, 'dsm', files.tile, files.dsm,
                                   1))
    def read_inside(row: int, col: int, height: int,
                    width: int) -> np.ndarray:
        return _dsm_as_float(_read(src, Window(col, row, width, height),
                                   'dsm', files.tile, files.dsm, 1))

    return read_edge_padded(read_inside, (src.height, src.width),
                            int(window.row_off), int(window.col_off),
                            int(window.height), int(window.width))


def read_tile(
    files: TileFiles,
    window: None | Window | Callable[[tuple[int, int]], Window] = None,
    dsm_stats: BandStatistics | None = None,
    dsm_normalization: str = 'minmax',
    with_label: bool = True,
    dsm_edge_padding: int = 0,
) -> dict[str, object]:
    """Read a tile, or one window of it, opening each raster once.

    Args:
        files: The tile's files.
        window: Region to read (``Window(col_off, row_off, width, height)``),
            or a function of the tile's (H, W) returning one (so a random
            window can be drawn without opening the files twice); None reads
            the whole tile. It must lie inside the tile.
        dsm_stats: Whole-tile DSM statistics; computed (and cached) when
            None.
        dsm_normalization: How the DSM is scaled: ``'minmax'`` (default,
            MoBaNet), ``'zscore'`` or ``'none'``.
        with_label: Read the label map (requires ``files.label``).
        dsm_edge_padding: Rows / columns the DSM may fall short of the
            optical image; the missing ones repeat its last row / column.

    Returns:
        dict: ``optical`` (h, w, C) float32, ``dsm`` (h, w) float32,
        ``label`` (h, w) uint8 or None, ``tile_shape`` (H, W) and ``window``
        (the Window read, or None for the whole tile).

    Raises:
        ISPRSTileError: For unreadable files, size mismatches, or a window
            outside the tile.
    """
    with open_tile(files, with_label, dsm_edge_padding) as sources:
        height, width = sources['optical'].height, sources['optical'].width
        if callable(window):
            window = window((height, width))
        if window is not None:
            window = Window(*map(int, (window.col_off, window.row_off,
                                       window.width, window.height)))
            if (window.col_off < 0 or window.row_off < 0
                    or window.width <= 0 or window.height <= 0
                    or window.col_off + window.width > width
                    or window.row_off + window.height > height):
                raise ISPRSTileError(
                    f'Window {window} lies outside tile {files.tile} '
                    f'({height}x{width}).')
        optical = _read(sources['optical'], window, 'optical', files.tile,
                        files.optical)
        dsm = _read_dsm_padded(sources['dsm'], window, (height, width),
                               files)
        rgb = None
        if with_label:
            rgb = _read(sources['label'], window, 'label', files.tile,
                        files.label)
    if dsm_stats is None and dsm_normalization != 'none':
        dsm_stats = dsm_statistics(files.dsm)
    dsm = normalize(dsm, dsm_normalization, dsm_stats)
    dsm[~np.isfinite(dsm)] = DSM_NODATA_FILL
    label = None
    if rgb is not None:
        label = colour_labels_to_indices(np.moveaxis(rgb, 0, -1))
    return dict(
        optical=np.moveaxis(optical, 0, -1).astype(np.float32),
        dsm=dsm,
        label=label,
        tile_shape=(height, width),
        window=window)
