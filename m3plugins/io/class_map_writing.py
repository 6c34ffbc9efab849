"""Write class maps and class probabilities as GeoTIFFs, atomically.

Output contract of large-scene inference (:class:`SceneMapWriter`):

* **Class map** GeoTIFF: one band, ``uint8``, the scene's size, with the
  input's CRS and affine transform copied unchanged (no CRS and the identity
  transform when no input is georeferenced). Pixel values are the model's
  0-based class indices plus ``class_offset`` (0 by default; 1 gives the
  hyperspectral label-file convention 1..K with 0 = unlabeled). The nodata
  tag is :data:`CLASS_MAP_NODATA` = 255, MMSeg's ignore index: every pixel is
  predicted, so 255 marks nothing in a map written here; it tells GIS tools
  and MMSeg which value means "no class". At most 255 classes (254 with an
  offset of 1) fit.
* **Probabilities** GeoTIFF (optional): K bands, softmax of the blended
  logits, same georeferencing. ``float32`` by default (bands sum to 1 up to
  float rounding); ``uint8`` stores ``round(255 * p)`` (4x smaller; bands sum
  to 255 within rounding, so to 1 within K/510 after dividing by 255).
* **Preview** PNG: :func:`m3plugins.io.preview_png.save_preview_png`.

Rows are written as they are finished (see
:class:`m3plugins.apis.tile_blending.RowBandAccumulator`), so nothing the
size of the scene is held in memory. They go to temporary files next to the
outputs (:mod:`m3plugins.utils.atomic_write`); :meth:`SceneMapWriter.close`
renames complete files onto the output names and
:meth:`SceneMapWriter.abort` deletes them, so a failed or killed run never
leaves a partial map under an output name. Large outputs are tiled (256 x 256),
DEFLATE-compressed and BigTIFF when needed.

A whole class map held in memory (the test-time maps of the HSI scenes) is
written by :func:`save_class_map`: its raw labels as a one-band GeoTIFF on
the scene's grid (``.npy`` without a georeference) and its PNG preview.
"""
import os
import os.path as osp
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from m3plugins.utils.atomic_write import (
    atomic_write_path,
    commit_temp_path,
    discard_temp_path,
    reserve_temp_path,
)

from .preview_png import save_class_map_png
from .raster_writing import write_geotiff

__all__ = [
    'CLASS_MAP_NODATA', 'PROBABILITY_DTYPES', 'SceneMapWriter',
    'save_class_map', 'write_class_map'
]

#: Nodata value of the class map (MMSeg's ignore index).
CLASS_MAP_NODATA = 255
#: Storage types of the probability GeoTIFF.
PROBABILITY_DTYPES = ('float32', 'uint8')
_BLOCK = 256


def _profile(height: int, width: int, count: int, dtype: str, crs,
             transform) -> dict:
    from rasterio.transform import Affine
    profile = dict(
        driver='GTiff',
        height=height,
        width=width,
        count=count,
        dtype=dtype,
        crs=crs,
        transform=transform if transform is not None else Affine.identity(),
        compress='deflate',
        BIGTIFF='IF_SAFER')
    if height >= _BLOCK and width >= _BLOCK:
        profile.update(tiled=True, blockxsize=_BLOCK, blockysize=_BLOCK)
    return profile


class SceneMapWriter:
    """Progressive writer of the class map and the optional probabilities.

    Args:
        class_map_path: Output GeoTIFF of the class map.
        height, width: Scene size.
        num_classes: K.
        crs, transform: Georeferencing to copy (None: not georeferenced).
        probabilities_path: Output GeoTIFF of the probabilities, or None.
        probability_dtype: One of :data:`PROBABILITY_DTYPES`.
        class_offset: Added to the 0-based class index in the class map.
    """

    def __init__(self,
                 class_map_path: str,
                 height: int,
                 width: int,
                 num_classes: int,
                 crs=None,
                 transform=None,
                 probabilities_path: str | None = None,
                 probability_dtype: str = 'float32',
                 class_offset: int = 0):
        if probability_dtype not in PROBABILITY_DTYPES:
            raise ValueError(f'probability_dtype must be one of '
                             f'{PROBABILITY_DTYPES}, got '
                             f'{probability_dtype!r}.')
        if class_offset < 0 or num_classes + class_offset > CLASS_MAP_NODATA:
            raise ValueError(
                f'{num_classes} classes with class_offset {class_offset} do '
                f'not fit a uint8 class map whose value {CLASS_MAP_NODATA} is '
                'reserved for nodata.')
        self.class_offset = class_offset
        self.probability_dtype = probability_dtype
        from rasterio.errors import NotGeoreferencedWarning
        with warnings.catch_warnings():
            # No CRS is expected when no input is georeferenced (documented).
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            self._open(class_map_path, probabilities_path, height, width,
                       num_classes, crs, transform)

    def _open(self, class_map_path, probabilities_path, height, width,
              num_classes, crs, transform) -> None:
        import rasterio
        self._datasets = []
        self._pending = []  # (temporary file, output name)
        try:
            class_map_temp = self._reserve(class_map_path)
            self._class_map = rasterio.open(
                class_map_temp, 'w', nodata=CLASS_MAP_NODATA,
                **_profile(height, width, 1, 'uint8', crs, transform))
            self._datasets.append(self._class_map)
            self._probabilities = None
            if probabilities_path:
                probabilities_temp = self._reserve(probabilities_path)
                self._probabilities = rasterio.open(
                    probabilities_temp, 'w',
                    **_profile(height, width, num_classes,
                               self.probability_dtype, crs, transform))
                self._datasets.append(self._probabilities)
        except BaseException:
            self.abort()
            raise

    def _reserve(self, path: str) -> str:
        temp_path = reserve_temp_path(path)
        self._pending.append((temp_path, path))
        return temp_path

    def write_rows(self, top: int, logits: np.ndarray) -> None:
        """Write the finished rows ``[top, top + n)``.

        Args:
            top: First scene row of the block.
            logits: (K, n, W) blended logits of rows ``top .. top + n - 1``.
        """
        from rasterio.windows import Window
        _, rows, width = logits.shape
        window = Window(0, top, width, rows)
        classes = logits.argmax(axis=0).astype(np.uint8) + \
            np.uint8(self.class_offset)
        self._class_map.write(classes, 1, window=window)
        if self._probabilities is not None:
            shifted = logits - logits.max(axis=0, keepdims=True)
            np.exp(shifted, out=shifted)
            shifted /= shifted.sum(axis=0, keepdims=True)
            if self.probability_dtype == 'uint8':
                shifted = np.rint(shifted * 255).astype(np.uint8)
            self._probabilities.write(shifted, window=window)

    def _close_datasets(self) -> None:
        datasets, self._datasets = self._datasets, []
        for dataset in datasets:
            dataset.close()

    def close(self) -> None:
        """Finish the GeoTIFFs and rename them onto the output names."""
        try:
            self._close_datasets()
        except BaseException:
            self.abort()
            raise
        pending, self._pending = self._pending, []
        for temp_path, path in pending:
            commit_temp_path(temp_path, path)

    def abort(self) -> None:
        """Delete the unfinished GeoTIFFs; the output names stay untouched."""
        try:
            self._close_datasets()
        except Exception:  # noqa: B902 - the files are deleted regardless
            pass
        pending, self._pending = self._pending, []
        for temp_path, _ in pending:
            discard_temp_path(temp_path)

    def __enter__(self) -> 'SceneMapWriter':
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_class_map(class_map: np.ndarray,
                    out_prefix: str,
                    num_classes: int,
                    georeference: dict[str, Any] | None = None) -> str:
    """Write a whole (H, W) class map atomically, GeoTIFF or ``.npy``.

    Args:
        class_map: (H, W) integer labels (0 = none, k = class k).
        out_prefix: Output path without suffix.
        num_classes: K; the map is uint8 below 256 classes, else uint16.
        georeference: ``dict(transform=affine.Affine, crs=...)`` of the
            scene (rasterio's), or None.

    Returns:
        str: ``<prefix>.tif`` (one-band GeoTIFF on the scene's grid) when
        ``georeference`` is given, else ``<prefix>.npy``.
    """
    class_map = np.asarray(class_map)
    dtype = np.uint8 if num_classes < 256 else np.uint16
    if georeference is None:
        path = f'{out_prefix}.npy'
        with atomic_write_path(path) as temp_path:
            np.save(temp_path, class_map.astype(dtype))
        return path
    return write_geotiff(f'{out_prefix}.tif', class_map.astype(dtype),
                         transform=georeference['transform'],
                         crs=georeference.get('crs'))


def save_class_map(class_map: np.ndarray,
                   out_prefix: str,
                   classes: Sequence[str],
                   palette: Sequence[Sequence[int]],
                   title: str | None = None,
                   georeference: dict[str, Any] | None = None,
                   dpi: int = 150) -> dict[str, str]:
    """Save ``<prefix>.png`` (colour + legend) and the raw class map.

    The raw map holds labels 1..K (0 = no prediction) as uint8 (uint16 above
    255 classes): ``<prefix>.tif`` as a one-band GeoTIFF when
    ``georeference`` is given, else ``<prefix>.npy`` (see
    :func:`write_class_map`). Both files are written atomically.

    Args:
        class_map: (H, W) integer labels, 0 = none, k = class k (1-based).
        out_prefix: Output path without suffix; folders are created.
        classes: K class names (legend).
        palette: K RGB triples.
        title: Figure title.
        georeference: ``dict(transform=affine.Affine, crs=...)`` of the scene
            (rasterio's), or None.
        dpi: Resolution of the PNG.

    Returns:
        dict[str, str]: ``{'png': path, 'map': path}``.

    Raises:
        ValueError: If names and colours differ in number, or a label
            exceeds the palette.
    """
    folder = osp.dirname(out_prefix)
    if folder:
        os.makedirs(folder, exist_ok=True)
    png = save_class_map_png(class_map, f'{out_prefix}.png', classes,
                             palette, title=title, dpi=dpi)
    path = write_class_map(class_map, out_prefix, len(classes), georeference)
    return dict(png=png, map=path)
