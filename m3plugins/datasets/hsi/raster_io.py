"""Read one 2-D or 3-D array from the file formats remote-sensing scenes ship in.

Hyperspectral benchmarks are distributed in a handful of formats, often mixed
within one scene (a ``.mat`` cube next to GeoTIFF label maps):

* MATLAB v5 ``.mat`` (``scipy.io.loadmat``): arrays come back (H, W[, C]).
* MATLAB v7.3 ``.mat`` (an HDF5 file, read with ``h5py``): MATLAB stores
  column-major, so h5py returns the axes reversed, (C, W, H). They are
  transposed back so that v5 and v7.3 files of the same scene give identical
  arrays.
* GeoTIFF (``rasterio``): bands are moved last, (bands, H, W) -> (H, W, bands);
  a one-band raster comes back (H, W).
* NumPy ``.npy``.

:func:`read_raster` is the single entry point for pixel data. Every failure
is a :class:`RasterReadError` (a ``ValueError``) or a ``FileNotFoundError``
whose message names the file, and for ``.mat`` files the variables it holds.
:func:`read_georeference` reads where a GeoTIFF lies on the ground (its affine
transform and CRS) from the file header alone, without the pixels.

Example:
    >>> cube = read_raster('Houston2013/HSI.mat', key='HSI')   # (349, 1905, 144)
    >>> gt = read_raster('PaviaU_gt.mat')        # the single variable, v5 or v7.3
    >>> geo = read_georeference('2013_IEEE_GRSS_DF_Contest_CASI.tif')
    >>> geo.transform, geo.crs     # None for .mat / .npy or plain image grids
    >>> read_raster_shape('Houston2013/HSI.mat', key='HSI')  # (349, 1905, 144)
"""
import os
import os.path as osp
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional

import numpy as np

__all__ = [
    'RasterReadError', 'Georeference', 'read_raster', 'read_raster_shape',
    'read_georeference', 'list_mat_keys', 'RASTER_SUFFIXES'
]

#: File suffixes understood by :func:`read_raster` (lower case).
RASTER_SUFFIXES = ('.mat', '.tif', '.tiff', '.npy')

Key = Optional[str | Sequence[str | None]]


class RasterReadError(ValueError):
    """A raster file exists but is unreadable or lacks the wanted variable."""


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


def _is_hdf5(path: str) -> bool:
    # MATLAB v7.3 files start with a 512-byte text header (an HDF5 user
    # block); h5py finds the HDF5 signature behind it.
    import h5py
    return h5py.is_hdf5(path)


def _public(keys) -> list[str]:
    return sorted(k for k in keys if not k.startswith('__') and k != '#refs#')


def list_mat_keys(path: str) -> list[str]:
    """List the variables of a MATLAB file (v5 or v7.3), meta entries excluded.

    Args:
        path: Path of a ``.mat`` file.

    Returns:
        list[str]: Sorted variable names.

    Raises:
        RasterReadError: If the file is not a readable MATLAB file.
    """
    if _is_hdf5(path):
        import h5py
        try:
            with h5py.File(path, 'r') as f:
                return _public(f.keys())
        except OSError as e:
            raise RasterReadError(
                f'Cannot read {path!r} as MATLAB v7.3 (HDF5): {e}. The file '
                'may be truncated or corrupt; download it again.') from e
    from scipy.io import whosmat
    try:
        return _public(name for name, _, _ in whosmat(path))
    except Exception as e:  # scipy raises several types for bad files
        raise RasterReadError(
            f'Cannot read {path!r} as a MATLAB file: {e}. The file may be '
            'truncated or not a .mat file; download it again.') from e


def _choose_key(path: str, available: list[str], key: Key) -> str:
    candidates = [key] if key is None or isinstance(key, str) else list(key)
    for candidate in candidates:
        if candidate is None:
            if len(available) == 1:
                return available[0]
        elif candidate in available:
            return candidate
    wanted = [c for c in candidates if c is not None]
    if wanted:
        raise RasterReadError(
            f'{path!r} has no variable {" or ".join(map(repr, wanted))}; it '
            f'holds {available}. Pass the right key.')
    raise RasterReadError(
        f'{path!r} holds {len(available)} variables {available}; pass `key` '
        'to choose one.')


def _read_mat(path: str, key: Key) -> np.ndarray:
    available = list_mat_keys(path)
    if not available:
        raise RasterReadError(f'{path!r} holds no variables.')
    name = _choose_key(path, available, key)
    if _is_hdf5(path):
        import h5py
        with h5py.File(path, 'r') as f:
            node = f[name]
            if not isinstance(node, h5py.Dataset):
                raise RasterReadError(
                    f'Variable {name!r} of {path!r} is a MATLAB struct or '
                    'cell, not a numeric array.')
            try:
                array = node[()]
            except OSError as e:
                raise RasterReadError(
                    f'Cannot read {name!r} from {path!r}: {e}. The file may '
                    'be truncated or corrupt; download it again.') from e
        # MATLAB writes column-major: reverse the axes back to (H, W[, C]).
        return np.ascontiguousarray(array.T)
    from scipy.io import loadmat
    try:
        array = loadmat(path, variable_names=[name])[name]
    except Exception as e:
        raise RasterReadError(
            f'Cannot read {name!r} from {path!r}: {e}. The file may be '
            'truncated or corrupt; download it again.') from e
    if array.dtype == object or array.dtype.names is not None:
        raise RasterReadError(
            f'Variable {name!r} of {path!r} is a MATLAB struct or cell, not a '
            'numeric array.')
    return array


def _read_geotiff(path: str) -> np.ndarray:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    try:
        with warnings.catch_warnings():
            # Benchmark rasters are often plain image grids without a
            # geotransform; that is fine here.
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                array = src.read()
    except RasterioError as e:
        raise RasterReadError(
            f'Cannot read {path!r} as GeoTIFF: {e}. The file may be '
            'truncated or corrupt; download it again.') from e
    array = np.moveaxis(array, 0, -1)
    return array[..., 0] if array.shape[-1] == 1 else array


def read_georeference(
        path: str | os.PathLike) -> Georeference | None:
    """Read the affine transform and CRS of a GeoTIFF from its header.

    Only the header is read, never the pixel data. A GeoTIFF counts as
    georeferenced when it carries a CRS and a geotransform other than the
    identity (what rasterio reports, with a ``NotGeoreferencedWarning``
    that is silenced here, for plain image grids); ground control points
    and RPCs are not considered.

    Args:
        path: A ``.mat``, ``.tif``/``.tiff`` or ``.npy`` file.

    Returns:
        Georeference or None: The transform (pixel (col, row) -> (x, y)) and
        CRS of a georeferenced GeoTIFF; None for ``.mat`` and ``.npy`` files
        (they hold no georeference) and for GeoTIFFs without a CRS or with
        only the identity transform.

    Raises:
        FileNotFoundError: If the file does not exist.
        RasterReadError: If a GeoTIFF is corrupt or the suffix is unknown.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'No such raster file: {path!r}')
    suffix = osp.splitext(path)[1].lower()
    if suffix in ('.mat', '.npy'):
        return None
    if suffix not in ('.tif', '.tiff'):
        raise RasterReadError(
            f'Unknown raster type {suffix!r} for {path!r}; expected one of '
            f'{RASTER_SUFFIXES}.')
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                transform, crs = src.transform, src.crs
    except RasterioIOError as e:
        raise RasterReadError(f'Cannot read {path!r} as GeoTIFF: {e}') from e
    if crs is None or transform.is_identity:
        return None
    return Georeference(transform, crs)


def _mat_shape(path: str, key: Key) -> tuple:
    name = _choose_key(path, list_mat_keys(path), key)
    if _is_hdf5(path):
        import h5py
        try:
            with h5py.File(path, 'r') as f:
                node = f[name]
                if not isinstance(node, h5py.Dataset):
                    raise RasterReadError(
                        f'Variable {name!r} of {path!r} is a MATLAB struct or '
                        'cell, not a numeric array.')
                return tuple(reversed(node.shape))  # column-major on disk
        except OSError as e:
            raise RasterReadError(
                f'Cannot read {path!r} as MATLAB v7.3 (HDF5): {e}. The file '
                'may be truncated or corrupt; download it again.') from e
    from scipy.io import whosmat
    return tuple(next(shape for var, shape, _ in whosmat(path)
                      if var == name))


def read_raster_shape(path: str | os.PathLike,
                      key: Key = None) -> tuple[int, ...]:
    """Shape (H, W) or (H, W, C) of the array :func:`read_raster` returns,
    from the file's header alone (no pixel data is decoded).

    Args:
        path: A ``.mat`` (v5 or v7.3), ``.tif``/``.tiff`` or ``.npy`` file.
        key: Variable of a ``.mat`` file, as for :func:`read_raster`.

    Returns:
        tuple[int, ...]: (H, W) or (H, W, C); a one-band GeoTIFF gives
        (H, W), as :func:`read_raster` does.

    Raises:
        FileNotFoundError: If the file does not exist.
        RasterReadError: If the header is unreadable, the variable is
            missing, the suffix is unknown or the array is not 2-D / 3-D.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'No such raster file: {path!r}')
    suffix = osp.splitext(path)[1].lower()
    if suffix == '.mat':
        shape = _mat_shape(path, key)
    elif suffix in ('.tif', '.tiff'):
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioError
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', NotGeoreferencedWarning)
                with rasterio.open(path) as src:
                    shape = (src.height, src.width) + (
                        (src.count, ) if src.count > 1 else ())
        except RasterioError as e:
            raise RasterReadError(
                f'Cannot read {path!r} as GeoTIFF: {e}. The file may be '
                'truncated or corrupt; download it again.') from e
    elif suffix == '.npy':
        try:
            shape = np.load(path, mmap_mode='r', allow_pickle=False).shape
        except (ValueError, OSError, EOFError) as e:
            raise RasterReadError(f'Cannot read {path!r} as .npy: {e}') from e
    else:
        raise RasterReadError(
            f'Unknown raster type {suffix!r} for {path!r}; expected one of '
            f'{RASTER_SUFFIXES}.')
    if len(shape) not in (2, 3):
        raise RasterReadError(
            f'{path!r} holds an array of shape {shape}; expected (H, W) or '
            '(H, W, C).')
    return tuple(int(n) for n in shape)


def read_raster(path: str | os.PathLike, key: Key = None) -> np.ndarray:
    """Read a 2-D or 3-D array shaped (H, W) or (H, W, C).

    Args:
        path: A ``.mat`` (v5 or v7.3), ``.tif``/``.tiff`` or ``.npy`` file.
        key: Variable of a ``.mat`` file. A string, or a sequence of accepted
            names tried in order, where ``None`` in the sequence (or
            ``key=None``) means "the file's only variable". Ignored for other
            formats.

    Returns:
        np.ndarray: (H, W) or (H, W, C) array in the file's dtype.

    Raises:
        FileNotFoundError: If the file does not exist.
        RasterReadError: If the file is corrupt, of an unknown type, lacks the
            variable (the message lists those it holds), or is not 2-D / 3-D.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'No such raster file: {path!r}')
    suffix = osp.splitext(path)[1].lower()
    if suffix == '.mat':
        array = _read_mat(path, key)
    elif suffix in ('.tif', '.tiff'):
        array = _read_geotiff(path)
    elif suffix == '.npy':
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise RasterReadError(f'Cannot read {path!r} as .npy: {e}') from e
    else:
        raise RasterReadError(
            f'Unknown raster type {suffix!r} for {path!r}; expected one of '
            f'{RASTER_SUFFIXES}.')
    array = np.asarray(array)
    if array.ndim not in (2, 3):
        raise RasterReadError(
            f'{path!r} gave an array of shape {array.shape}; expected (H, W) '
            'or (H, W, C).')
    return array
