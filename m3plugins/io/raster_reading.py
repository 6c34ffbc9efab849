"""Read one 2-D or 3-D array, or its header, from a raster file.

Remote-sensing scenes ship in a handful of formats, often mixed within one
scene (a ``.mat`` cube next to GeoTIFF label maps):

* MATLAB v5 ``.mat`` (``scipy.io.loadmat``): arrays come back (H, W[, C]).
* MATLAB v7.3 ``.mat`` (an HDF5 file, read with ``h5py``): MATLAB stores
  column-major, so h5py returns the axes reversed, (C, W, H). They are
  transposed back so that v5 and v7.3 files of the same scene give identical
  arrays.
* GeoTIFF (``rasterio``): bands are moved last, (bands, H, W) -> (H, W, bands);
  a one-band raster comes back (H, W).
* NumPy ``.npy``.
* PNG / JPEG (Pillow): the 8-bit clips of MMSeg's ISPRS converters.

:func:`read_raster` is the single entry point for whole-file pixel data and
:func:`read_raster_shape` reads the size and band count from the header
alone. :func:`open_geotiff` opens a GeoTIFF for windowed reads (see
:mod:`m3plugins.io.modality_rasters`) and :func:`check_decodes_to_end`
finds a truncated file at build time. Every failure is a
:class:`RasterReadError` (a ``ValueError``) or a ``FileNotFoundError`` whose
message names the file, and for ``.mat`` files the variables it holds.
Georeferences are read by :mod:`m3plugins.io.georeference`.

Example:
    >>> cube = read_raster('HSI.mat', key='HSI')   # (349, 1905, 144)
    >>> gt = read_raster('PaviaU_gt.mat')  # the only variable, v5 or v7.3
    >>> read_raster_shape('HSI.mat', key='HSI')    # (349, 1905, 144)
    >>> read_raster_header('CASI.tif').georeference  # transform and CRS
"""
import os
import os.path as osp
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    'RasterReadError', 'RasterHeader', 'read_raster', 'read_raster_header',
    'read_raster_shape', 'list_mat_keys',
    'open_geotiff', 'check_decodes_to_end', 'read_edge_padded',
    'split_mat_key',
    'RASTER_SUFFIXES', 'GEOTIFF_SUFFIXES', 'IMAGE_SUFFIXES'
]

#: GeoTIFF suffixes (read with rasterio).
GEOTIFF_SUFFIXES = ('.tif', '.tiff')
#: 8-bit image suffixes (read with Pillow: exact values, fast).
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')
#: File suffixes understood by :func:`read_raster` (lower case).
RASTER_SUFFIXES = ('.mat', ) + GEOTIFF_SUFFIXES + ('.npy', ) + IMAGE_SUFFIXES

Key = str | Sequence[str | None] | None


class RasterReadError(ValueError):
    """A raster file exists but is unreadable or lacks the wanted variable."""


def split_mat_key(path: str) -> tuple[str, str | None]:
    """Split ``'scene.mat:KEY'`` into ``('scene.mat', 'KEY')``.

    Args:
        path: A raster path, for ``.mat`` files optionally followed by
            ``:KEY`` naming the variable.

    Returns:
        tuple[str, str | None]: The file path and the key (None when not
        given).
    """
    head, sep, key = str(path).rpartition(':')
    if sep and head.lower().endswith('.mat') and key and '/' not in key \
            and '\\' not in key:
        return head, key
    return str(path), None


@contextmanager
def open_geotiff(path: str, what: str = '') -> Iterator:
    """Open a GeoTIFF with rasterio for header and windowed reads.

    rasterio's ``NotGeoreferencedWarning`` is silenced: plain image grids
    (the ISPRS Potsdam tiles, many benchmark rasters) are fine here; the
    georeference is judged by :mod:`m3plugins.io.georeference`.

    Args:
        path: The GeoTIFF.
        what: Words naming the file's role, inserted after the path in error
            messages, e.g. ``" (modality 'dsm')"``.

    Yields:
        rasterio.io.DatasetReader: The open dataset, closed on exit.

    Raises:
        RasterReadError: If the file cannot be opened as a GeoTIFF (the
            message names it and says it is probably truncated or corrupt).
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            src = rasterio.open(path)
    except RasterioError as e:
        raise RasterReadError(
            f'Cannot read {path!r}{what} as GeoTIFF: {e}. The file may be '
            'truncated or corrupt; download it again.') from e
    with src:
        yield src


def read_edge_padded(read: Callable[[int, int, int, int], np.ndarray],
                     raster_size: tuple[int, int], row: int, col: int,
                     height: int, width: int) -> np.ndarray:
    """Read a window that may reach past a raster's bottom / right edge.

    The missing rows / columns repeat the raster's last row / column: the
    rule for a modality allowed to fall a few pixels short of the others
    (the official Potsdam ``dsm_potsdam_03_13.tif`` is one column short).

    Args:
        read: ``read(row, col, height, width)`` of a window inside the
            raster, returning (height, width[, C]).
        raster_size: (H, W) of the raster.
        row: Top row of the window (inside the raster).
        col: Left column of the window (inside the raster).
        height: Rows of the window.
        width: Columns of the window.

    Returns:
        np.ndarray: (height, width[, C]) window.
    """
    rows = np.minimum(np.arange(row, row + height), raster_size[0] - 1)
    cols = np.minimum(np.arange(col, col + width), raster_size[1] - 1)
    inside = read(int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1),
                  int(cols[-1] - cols[0] + 1))
    return inside[np.ix_(rows - rows[0], cols - cols[0])]


def check_decodes_to_end(src, path: str, what: str = '') -> None:
    """Decode the last block of an open GeoTIFF.

    A truncated file then fails when a dataset is built instead of in the
    middle of training; one block is cheap.

    Args:
        src: An open rasterio dataset.
        path: Its file, for the message.
        what: Words naming the file's role (see :func:`open_geotiff`).

    Raises:
        RasterReadError: If the block cannot be decoded.
    """
    from rasterio.errors import RasterioError
    from rasterio.windows import Window
    block_height, block_width = src.block_shapes[0]
    row = (src.height - 1) // block_height * block_height
    col = (src.width - 1) // block_width * block_width
    try:
        src.read(window=Window(col, row, src.width - col, src.height - row))
    except RasterioError as e:
        raise RasterReadError(
            f'Cannot read {path!r}{what} to its end: {e}. The file is '
            'probably truncated or corrupt; download it again.') from e


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


def _read_geotiff(path: str, nodata_as_nan: bool) -> np.ndarray:
    from rasterio.errors import RasterioError
    with open_geotiff(path) as src:
        try:
            array = src.read(masked=nodata_as_nan)
        except RasterioError as e:
            raise RasterReadError(
                f'Cannot read {path!r} as GeoTIFF: {e}. The file may be '
                'truncated or corrupt; download it again.') from e
    if nodata_as_nan:
        array = np.ma.filled(array.astype(np.float32), np.nan)
    array = np.moveaxis(array, 0, -1)
    return array[..., 0] if array.shape[-1] == 1 else array


def _read_image(path: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as image:
            return np.asarray(image)
    except (UnidentifiedImageError, OSError) as e:
        raise RasterReadError(
            f'Cannot read {path!r} as an image: {e}. The file may be '
            'truncated or corrupt; write it again.') from e


class RasterHeader(NamedTuple):
    """What a raster file's header says, without its pixels.

    Attributes:
        shape: (H, W) or (H, W, C), the shape :func:`read_raster` returns
            (a one-band GeoTIFF gives (H, W)).
        dtype: The stored element type (``np.dtype``).
        georeference: :class:`~m3plugins.io.georeference.Georeference` of a
            georeferenced GeoTIFF, else None.
    """
    shape: tuple[int, ...]
    dtype: np.dtype
    georeference: Any


#: MATLAB v5 class names (``scipy.io.whosmat``) -> NumPy types.
_MATLAB_TYPES = dict(double='float64', single='float32', int8='int8',
                     uint8='uint8', int16='int16', uint16='uint16',
                     int32='int32', uint32='uint32', int64='int64',
                     uint64='uint64', logical='bool')


def _mat_header(path: str, key: Key) -> tuple[tuple, np.dtype]:
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
                # Column-major on disk.
                return tuple(reversed(node.shape)), node.dtype
        except OSError as e:
            raise RasterReadError(
                f'Cannot read {path!r} as MATLAB v7.3 (HDF5): {e}. The file '
                'may be truncated or corrupt; download it again.') from e
    from scipy.io import whosmat
    shape, kind = next((shape, kind) for var, shape, kind in whosmat(path)
                       if var == name)
    if kind not in _MATLAB_TYPES:
        raise RasterReadError(
            f'Variable {name!r} of {path!r} is a MATLAB {kind}, not a '
            'numeric array (struct or cell).')
    return tuple(shape), np.dtype(_MATLAB_TYPES[kind])


def read_raster_header(path: str | os.PathLike,
                       key: Key = None,
                       check_truncation: bool = False) -> RasterHeader:
    """Size, band count, type and georeference of a raster, from its header.

    No pixel data is decoded, except the last block of a GeoTIFF when
    ``check_truncation`` (see :func:`check_decodes_to_end`).

    Args:
        path: A file of one of :data:`RASTER_SUFFIXES`.
        key: Variable of a ``.mat`` file, as for :func:`read_raster`.
        check_truncation: Decode a GeoTIFF's last block, so that a
            truncated file fails here.

    Returns:
        RasterHeader: ``shape`` (H, W) or (H, W, C), ``dtype`` and
        ``georeference`` (None for all but georeferenced GeoTIFFs).

    Raises:
        FileNotFoundError: If the file does not exist.
        RasterReadError: If the header is unreadable (or, with
            ``check_truncation``, the last block), the variable is missing,
            the suffix is unknown or the array is not 2-D / 3-D.
    """
    from .georeference import georeference_of
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'No such raster file: {path!r}')
    suffix = osp.splitext(path)[1].lower()
    georeference = None
    if suffix == '.mat':
        shape, dtype = _mat_header(path, key)
    elif suffix in GEOTIFF_SUFFIXES:
        with open_geotiff(path) as src:
            shape = (src.height, src.width) + (
                (src.count, ) if src.count > 1 else ())
            dtype = np.dtype(src.dtypes[0])
            georeference = georeference_of(src)
            if check_truncation:
                check_decodes_to_end(src, path)
    elif suffix == '.npy':
        try:
            array = np.load(path, mmap_mode='r', allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise RasterReadError(f'Cannot read {path!r} as .npy: {e}') from e
        shape, dtype = array.shape, array.dtype
    elif suffix in IMAGE_SUFFIXES:
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(path) as image:
                bands = len(image.getbands())
                shape = (image.height, image.width) + (
                    (bands, ) if bands > 1 else ())
                dtype = np.dtype('uint16' if image.mode.startswith('I;16')
                                 else 'uint8')
        except (UnidentifiedImageError, OSError) as e:
            raise RasterReadError(
                f'Cannot read {path!r} as an image: {e}. The file may be '
                'truncated or corrupt; write it again.') from e
    else:
        raise RasterReadError(
            f'Unknown raster type {suffix!r} for {path!r}; expected one of '
            f'{RASTER_SUFFIXES}.')
    if len(shape) not in (2, 3):
        raise RasterReadError(
            f'{path!r} holds an array of shape {tuple(shape)}; expected '
            '(H, W) or (H, W, C).')
    return RasterHeader(tuple(int(n) for n in shape), dtype, georeference)


def read_raster_shape(path: str | os.PathLike,
                      key: Key = None) -> tuple[int, ...]:
    """Shape of the array :func:`read_raster` returns, from the header.

    Args:
        path: A file of one of :data:`RASTER_SUFFIXES`.
        key: Variable of a ``.mat`` file, as for :func:`read_raster`.

    Returns:
        tuple[int, ...]: (H, W) or (H, W, C); a one-band GeoTIFF gives
        (H, W), as :func:`read_raster` does.

    Raises:
        FileNotFoundError: If the file does not exist.
        RasterReadError: If the header is unreadable, the variable is
            missing, the suffix is unknown or the array is not 2-D / 3-D.
    """
    return read_raster_header(path, key).shape


def read_raster(path: str | os.PathLike,
                key: Key = None,
                nodata_as_nan: bool = False) -> np.ndarray:
    """Read a whole 2-D or 3-D array shaped (H, W) or (H, W, C).

    Args:
        path: A file of one of :data:`RASTER_SUFFIXES`: ``.mat`` (v5 or
            v7.3), ``.tif``/``.tiff``, ``.npy``, ``.png``/``.jpg``.
        key: Variable of a ``.mat`` file. A string, or a sequence of accepted
            names tried in order, where ``None`` in the sequence (or
            ``key=None``) means "the file's only variable". Ignored for other
            formats.
        nodata_as_nan: Return float32 with NaN where a GeoTIFF declares
            nodata (other formats: values unchanged).

    Returns:
        np.ndarray: (H, W) or (H, W, C) array in the file's dtype (float32
        for a GeoTIFF read with ``nodata_as_nan``).

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
    elif suffix in GEOTIFF_SUFFIXES:
        array = _read_geotiff(path, nodata_as_nan)
    elif suffix == '.npy':
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise RasterReadError(f'Cannot read {path!r} as .npy: {e}') from e
    elif suffix in IMAGE_SUFFIXES:
        array = _read_image(path)
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
