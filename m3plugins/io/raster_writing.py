"""Write a whole (H, W) or (H, W, C) array as a GeoTIFF, atomically.

The array layout is the package's (bands last, as :func:`read_raster`
returns them); on disk the bands are GeoTIFF bands. The file appears under
its name only when complete (:mod:`m3plugins.utils.atomic_write`), and
missing folders are created.

Example:
    >>> from rasterio.transform import from_origin
    >>> write_geotiff('dsm.tif', dsm,                    # (H, W) float32
    ...               transform=from_origin(366000, 5808000, 0.05, 0.05),
    ...               crs='EPSG:32633', nodata=-9999.0)
    >>> read_raster('dsm.tif').shape                      # (H, W)
"""
import os
import os.path as osp
import warnings

import numpy as np

from m3plugins.utils.atomic_write import atomic_write_path

__all__ = ['write_geotiff']


def write_geotiff(path: str | os.PathLike,
                  array: np.ndarray,
                  transform=None,
                  crs=None,
                  nodata: float | None = None,
                  **profile) -> str:
    """Write an array as a GeoTIFF with an optional georeference.

    Args:
        path: Output file; its folder is created when missing.
        array: (H, W) or (H, W, C), written in its dtype, band k of the file
            being ``array[..., k]``.
        transform: ``affine.Affine`` of the pixel grid, or None (a plain
            image grid).
        crs: CRS (anything rasterio accepts, e.g. ``'EPSG:32632'``), or
            None.
        nodata: The nodata value to declare, or None.
        **profile: More rasterio creation options (``compress``,
            ``tiled``...).

    Returns:
        str: ``path``.

    Raises:
        ValueError: If the array is not 2-D or 3-D.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    path = os.fspath(path)
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f'array must be (H, W) or (H, W, C), got shape '
                         f'{array.shape}.')
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    options = dict(driver='GTiff', height=array.shape[0],
                   width=array.shape[1], count=array.shape[2],
                   dtype=array.dtype.name, crs=crs)
    if transform is not None:
        options['transform'] = transform
    if nodata is not None:
        options['nodata'] = nodata
    options.update(profile)
    with warnings.catch_warnings():
        # A plain image grid (no transform, no CRS) is asked for here.
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with atomic_write_path(path) as temp_path, \
                rasterio.open(temp_path, 'w', **options) as dst:
            dst.write(np.moveaxis(array, -1, 0))
    return path
