"""Where a raster lies on the ground, and whether two rasters share a grid.

One alignment rule for the whole package (HSI scenes, ISPRS tiles,
large-scene inference): two georeferenced rasters are co-registered when
they have the same CRS and their affine transforms differ, coefficient by
coefficient, by at most :data:`ALIGNMENT_TOLERANCE_PIXELS` of a pixel.
Rasters without a georeference (``.mat``, ``.npy``, GeoTIFFs without CRS or
with only the identity transform) are never compared; only their pixel size
has to match, which the callers check.

Example:
    >>> geo = read_georeference('2013_IEEE_GRSS_DF_Contest_CASI.tif')
    >>> geo.transform, geo.crs            # None for .mat / .npy files
    >>> check_co_registration([
    ...     ('hsi', 'CASI.tif', read_georeference('CASI.tif')),
    ...     ('lidar', 'LiDAR.tif', read_georeference('LiDAR.tif'))])
"""
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = [
    'ALIGNMENT_TOLERANCE_PIXELS', 'Georeference', 'RasterAlignmentError',
    'check_co_registration', 'georeference_difference', 'georeference_of',
    'read_georeference', 'transforms_align'
]

#: Fraction of a pixel by which two transforms may differ and still align.
ALIGNMENT_TOLERANCE_PIXELS = 1e-3

#: What to do about misaligned rasters, unless the caller knows better.
DEFAULT_ALIGNMENT_FIX = 'Resample them onto one grid in one CRS first.'


class RasterAlignmentError(ValueError):
    """Rasters that should share one grid do not (or do not fit a model)."""


class Georeference(NamedTuple):
    """Where a raster's pixel grid lies on the ground.

    Attributes:
        transform: ``affine.Affine`` mapping pixel coordinates (col, row),
            (0, 0) being the top-left corner of the top-left pixel, to
            (x, y) in ``crs``.
        crs: ``rasterio.crs.CRS`` of those coordinates.
    """
    transform: Any
    crs: Any


def georeference_of(dataset) -> Georeference | None:
    """The georeference of an open rasterio dataset.

    A raster counts as georeferenced when it carries a CRS and a transform
    other than the identity (what rasterio reports for plain image grids);
    ground control points and RPCs are not considered.

    Args:
        dataset: An open ``rasterio`` dataset.

    Returns:
        Georeference or None: Its transform and CRS, or None when it is not
        georeferenced.
    """
    if dataset.crs is None or dataset.transform.is_identity:
        return None
    return Georeference(dataset.transform, dataset.crs)


def read_georeference(path: str | os.PathLike) -> Georeference | None:
    """Read the affine transform and CRS of a GeoTIFF from its header.

    Only the header is read, never the pixel data.

    Args:
        path: A ``.mat``, ``.tif``/``.tiff``, ``.npy`` or image file.

    Returns:
        Georeference or None: The transform (pixel (col, row) -> (x, y)) and
        CRS of a georeferenced GeoTIFF (see :func:`georeference_of`); None
        for the other formats (they hold no georeference) and for GeoTIFFs
        without a CRS or with only the identity transform.

    Raises:
        FileNotFoundError: If the file does not exist.
        RasterReadError: If a GeoTIFF is corrupt or the suffix is unknown.
    """
    from .raster_reading import (
        GEOTIFF_SUFFIXES,
        RASTER_SUFFIXES,
        RasterReadError,
        open_geotiff,
    )
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'No such raster file: {path!r}')
    suffix = osp.splitext(path)[1].lower()
    if suffix not in RASTER_SUFFIXES:
        raise RasterReadError(
            f'Unknown raster type {suffix!r} for {path!r}; expected one of '
            f'{RASTER_SUFFIXES}.')
    if suffix not in GEOTIFF_SUFFIXES:
        return None
    with open_geotiff(path) as src:
        return georeference_of(src)


def transforms_align(first, second) -> bool:
    """Whether two affine transforms describe the same pixel grid.

    Args:
        first: ``affine.Affine`` of one raster.
        second: ``affine.Affine`` of the other.

    Returns:
        bool: True when each of the six coefficients differs by at most
        :data:`ALIGNMENT_TOLERANCE_PIXELS` times the first raster's pixel
        size.
    """
    pixel = min(abs(first.a), abs(first.e)) or 1.0
    tolerance = ALIGNMENT_TOLERANCE_PIXELS * pixel
    return all(
        abs(x - y) <= tolerance
        for x, y in zip(tuple(first)[:6], tuple(second)[:6]))


def georeference_difference(first: Georeference,
                            second: Georeference) -> str | None:
    """Say how two georeferences differ, in words with both values.

    Args:
        first: The reference raster's georeference.
        second: The other raster's georeference.

    Returns:
        str or None: ``'CRS A vs B'`` or ``'transform (...) vs (...)'``;
        None when they align (see :func:`transforms_align`).
    """
    if second.crs != first.crs:
        return f'CRS {first.crs} vs {second.crs}'
    if not transforms_align(first.transform, second.transform):
        return (f'transform {tuple(first.transform)[:6]} vs '
                f'{tuple(second.transform)[:6]} (more than '
                f'{ALIGNMENT_TOLERANCE_PIXELS:g} pixel apart)')
    return None


def check_co_registration(
        rasters: Sequence[tuple[str, str, Georeference | None]],
        error_type: type[Exception] = RasterAlignmentError,
        context: str = '',
        fix: str = DEFAULT_ALIGNMENT_FIX) -> Georeference | None:
    """Check that every georeferenced raster lies on the first one's grid.

    Args:
        rasters: (modality, path, georeference or None) per raster; those
            without a georeference are skipped.
        error_type: Exception class raised on a mismatch (each dataset
            family raises its own).
        context: Words inserted after the two rasters, e.g.
            ``' of tile 2_10'``.
        fix: The last sentence of the message: how to repair the data.

    Returns:
        Georeference or None: The first georeferenced raster's, None when
        no raster is georeferenced.

    Raises:
        Exception: ``error_type``, naming both modalities, both files and
            both differing values (CRS or transform), then ``fix``.
    """
    reference = None
    for modality, path, georeference in rasters:
        if georeference is None:
            continue
        if reference is None:
            reference = (modality, path, georeference)
            continue
        first, first_path, first_geo = reference
        differs = georeference_difference(first_geo, georeference)
        if differs is not None:
            raise error_type(
                f'The {first!r} raster {first_path} and the {modality!r} '
                f'raster {path}{context} are not co-registered: {differs}. '
                f'Fix: {fix}')
    return None if reference is None else reference[2]

