"""Open one raster per modality and check that they describe the same grid.

Large-scene inference (:mod:`m3plugins.apis.large_scene_inference`) reads a
scene as a set of co-registered rasters, one per modality (an optical GeoTIFF
and a DSM GeoTIFF, or the ``.mat`` cubes of a hyperspectral benchmark). This
module opens them, checks them against each other and against the model's
``modality_channels``, and reads aligned windows from all of them at once.

Memory contract, by format:

* GeoTIFF (``.tif``/``.tiff``): opened with rasterio and read window by
  window, so only the windows being processed are in memory.
* NumPy ``.npy``: memory-mapped (``np.load(mmap_mode='r')``), so windows are
  read from disk as well.
* MATLAB ``.mat`` (v5 or v7.3): loaded whole into memory with
  :func:`m3plugins.io.raster_reading.read_raster` (neither format can be
  read by window in general). The hyperspectral benchmark scenes that ship as
  ``.mat`` are small (Houston2013 144 x 349 x 1905 float32 is 383 MB). A
  ``.mat`` path may name its variable as ``path.mat:KEY``; without a key the
  variable named like the modality is used, else the file's only variable.

Windows come back as ``(h, w, C)`` arrays in the file's band order, the
layout of :func:`read_raster` and of the package's datasets.

Alignment rules, each failure a :class:`RasterAlignmentError` naming the
modality and file:

* every modality named in ``modality_channels`` has exactly one raster, and
  no raster names an unknown modality;
* every raster's band count equals the modality's channel count;
* all rasters share one size (height x width), except that a modality
  given ``edge_padding`` may fall that many rows / columns short at the
  bottom / right, which windows fill by repeating its last row / column
  (the ISPRS datasets' ``dsm_edge_padding``);
* georeferenced rasters (GeoTIFFs with a CRS) share one CRS and one affine
  transform (:func:`m3plugins.io.georeference.check_co_registration`, the
  package's one alignment rule). Rasters without georeferencing (``.mat``,
  ``.npy``, GeoTIFFs without CRS) only need the same size; the scene's
  georeferencing is then taken from the georeferenced ones, if any.
"""
import os
import os.path as osp
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextlib import ExitStack

import numpy as np

from m3plugins.utils.modalities import modality_layout_mismatch

from .georeference import (
    Georeference,
    RasterAlignmentError,
    check_co_registration,
)
from .raster_reading import (
    GEOTIFF_SUFFIXES,
    RasterReadError,
    open_geotiff,
    read_edge_padded,
    read_raster,
    split_mat_key,
)

__all__ = [
    'ModalityRaster', 'ModalityRasterStack', 'open_modality_rasters'
]


class ModalityRaster:
    """One modality's raster, readable by window.

    Args:
        name: Modality name (a key of the model's ``modality_channels``).
        path: GeoTIFF, ``.npy`` or ``.mat`` path (``.mat`` optionally as
            ``path.mat:KEY``).

    Attributes:
        height, width, count: Raster size and band count.
        crs: rasterio CRS, or None when not georeferenced.
        transform: affine transform, or None when not georeferenced.

    Raises:
        FileNotFoundError: If the file does not exist.
        RasterReadError: If it cannot be read (the message names the file).
    """

    def __init__(self, name: str, path: str | os.PathLike):
        self.name = name
        self.path, key = split_mat_key(os.fspath(path))
        if not osp.isfile(self.path):
            raise FileNotFoundError(
                f'Raster of modality {name!r} not found: {self.path!r}')
        self.crs = None
        self.transform = None
        self._dataset = None
        self._array = None
        self._files = ExitStack()
        suffix = osp.splitext(self.path)[1].lower()
        if suffix in GEOTIFF_SUFFIXES:
            self._dataset = self._files.enter_context(
                open_geotiff(self.path, f' (modality {name!r})'))
            self.height = self._dataset.height
            self.width = self._dataset.width
            self.count = self._dataset.count
            if self._dataset.crs is not None:
                self.crs = self._dataset.crs
                self.transform = self._dataset.transform
        elif suffix == '.npy':
            try:
                array = np.load(self.path, mmap_mode='r', allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                raise RasterReadError(
                    f'Cannot read {self.path!r} (modality {name!r}) as .npy: '
                    f'{e}') from e
            self._set_array(array)
        else:
            # Without an explicit key: the variable named like the modality,
            # else the file's only variable.
            self._set_array(
                read_raster(self.path, key=key if key else (name, None)))

    def _set_array(self, array: np.ndarray) -> None:
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3:
            raise RasterReadError(
                f'{self.path!r} (modality {self.name!r}) holds an array of '
                f'shape {array.shape}; expected (H, W) or (H, W, C).')
        self._array = array
        self.height, self.width, self.count = array.shape

    @property
    def georeferenced(self) -> bool:
        """Whether the raster carries a CRS and a transform."""
        return self.crs is not None

    def read(self, row: int, col: int, height: int, width: int,
             nodata_as_nan: bool = False) -> np.ndarray:
        """Read the window ``[row:row+height, col:col+width]``.

        Args:
            row: Top row of the window.
            col: Left column of the window.
            height: Rows of the window.
            width: Columns of the window.
            nodata_as_nan: Return float32 with NaN where a GeoTIFF declares
                nodata (other formats: values unchanged, float32).

        Returns:
            np.ndarray: (height, width, count) array in the file's dtype
            (float32 with ``nodata_as_nan``).
        """
        if row + height > self.height or col + width > self.width:
            return self._read_edge_padded(row, col, height, width,
                                          nodata_as_nan)
        if self._dataset is not None:
            from rasterio.windows import Window
            window = self._dataset.read(
                window=Window(col, row, width, height),
                masked=nodata_as_nan)
            if nodata_as_nan:
                window = np.ma.filled(window.astype(np.float32), np.nan)
            return np.moveaxis(window, 0, -1)
        if nodata_as_nan:
            return np.asarray(self._array[row:row + height,
                                          col:col + width], dtype=np.float32)
        return np.asarray(self._array[row:row + height, col:col + width])

    def _read_edge_padded(self, row: int, col: int, height: int, width: int,
                          nodata_as_nan: bool) -> np.ndarray:
        """Read a window reaching past the raster, repeating its edge.

        Only rasters allowed to fall short (see
        :func:`open_modality_rasters`) are read past their last row /
        column.
        """
        return read_edge_padded(
            lambda *window: self.read(*window, nodata_as_nan),
            (self.height, self.width), row, col, height, width)

    def close(self) -> None:
        """Release the file handle (GeoTIFF) or the array."""
        self._files.close()
        self._dataset = None
        self._array = None

    def __repr__(self) -> str:
        return (f'ModalityRaster({self.name!r}, {self.path!r}, '
                f'{self.height}x{self.width}x{self.count})')


class ModalityRasterStack:
    """Aligned rasters of all modalities of a scene, in the model's order.

    Built by :func:`open_modality_rasters`. ``read(row, col, h, w)`` gives a
    dict modality -> (h, w, C_m) window, ready for
    :func:`m3plugins.utils.modalities.stack_modalities`.

    Attributes:
        rasters: Ordered modality -> :class:`ModalityRaster`.
        height, width: The shared size.
        crs, transform: The scene's georeferencing (from the first
            georeferenced raster), or None.
    """

    def __init__(self, rasters: 'OrderedDict[str, ModalityRaster]'):
        self.rasters = rasters
        self.height = max(r.height for r in rasters.values())
        self.width = max(r.width for r in rasters.values())
        reference = next((r for r in rasters.values() if r.georeferenced),
                         None)
        self.crs = reference.crs if reference is not None else None
        self.transform = (reference.transform
                          if reference is not None else None)

    def read(self, row: int, col: int, height: int, width: int,
             nodata_as_nan: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Read one window from every modality.

        Args:
            row: Top row of the window.
            col: Left column of the window.
            height: Rows of the window.
            width: Columns of the window.
            nodata_as_nan: Modalities whose declared nodata comes back as
                NaN (see :meth:`ModalityRaster.read`).

        Returns:
            dict[str, np.ndarray]: Modality -> (height, width, C_m) window,
            in the model's order.
        """
        return OrderedDict(
            (name, raster.read(row, col, height, width,
                               name in nodata_as_nan))
            for name, raster in self.rasters.items())

    def close(self) -> None:
        """Release every raster."""
        for raster in self.rasters.values():
            raster.close()

    def __enter__(self) -> 'ModalityRasterStack':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_alignment(rasters: Mapping[str, ModalityRaster],
                     edge_padding: Mapping[str, int]) -> None:
    items = list(rasters.values())
    padded = [r for r in items if edge_padding.get(r.name, 0) > 0]
    # The scene's size is that of the modalities that may not fall short.
    first = next((r for r in items if r not in padded), items[0])
    for raster in items:
        shortfall = (first.height - raster.height, first.width - raster.width)
        allowed = edge_padding.get(raster.name, 0)
        if raster is not first and not all(0 <= d <= allowed
                                           for d in shortfall):
            raise RasterAlignmentError(
                f'Modality {raster.name!r} ({raster.path}) is '
                f'{raster.height}x{raster.width} pixels but modality '
                f'{first.name!r} ({first.path}) is {first.height}x'
                f'{first.width}; all modalities must cover the same grid'
                + (f' (up to {allowed} missing trailing row(s)/column(s) of '
                   f'{raster.name!r} are repeated from its edge)'
                   if allowed else '') +
                '. Resample or crop them to one grid first.')
    check_co_registration(
        [(r.name, r.path,
          Georeference(r.transform, r.crs) if r.georeferenced else None)
         for r in items],
        fix='the rasters must lie on one grid (same CRS, origin and pixel '
        'size); reproject or resample them onto one grid first.')


def open_modality_rasters(
        rasters: Mapping[str, str | os.PathLike],
        modality_channels: Mapping[str, int],
        edge_padding: Mapping[str, int] | None = None
) -> ModalityRasterStack:
    """Open one raster per modality and check them (see the module doc).

    Args:
        rasters: Modality name -> raster path.
        modality_channels: The model's ordered modality -> channel count.
        edge_padding: Modality -> rows / columns its raster may fall short
            of the others at the bottom / right; windows then repeat its
            last row / column (the ISPRS datasets' ``dsm_edge_padding``:
            Potsdam's ``dsm_potsdam_03_13.tif`` is one column short).

    Returns:
        ModalityRasterStack: The rasters in the order of
        ``modality_channels``.

    Raises:
        RasterAlignmentError: For a missing or unknown modality, a wrong band
            count, or rasters on different grids.
        FileNotFoundError, RasterReadError: For unreadable files.
    """
    missing = [m for m in modality_channels if m not in rasters]
    unknown = [m for m in rasters if m not in modality_channels]
    expected = ', '.join(f'{m} ({n} band{"s" if n != 1 else ""})'
                         for m, n in modality_channels.items())
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f'No raster for modality {missing}.')
        if unknown:
            problems.append(f'Rasters given for unknown modality {unknown}.')
        raise RasterAlignmentError(
            f'{" ".join(problems)} The model expects one raster per '
            f'modality: {expected}.')
    opened = OrderedDict()
    try:
        for name, channels in modality_channels.items():
            raster = ModalityRaster(name, rasters[name])
            opened[name] = raster
            if raster.count != int(channels):
                found = OrderedDict(modality_channels)
                found[name] = raster.count
                raise RasterAlignmentError(
                    f'Modality {name!r} ({raster.path}): '
                    f'{modality_layout_mismatch(found, modality_channels)}. '
                    'Fix: give the raster of this modality that the model '
                    'was trained on, or a model whose modality_channels '
                    'match the rasters.')
        _check_alignment(opened, edge_padding or {})
    except BaseException:
        for raster in opened.values():
            raster.close()
        raise
    return ModalityRasterStack(opened)
