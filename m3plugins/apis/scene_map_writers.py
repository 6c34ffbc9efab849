"""Write a large scene's predictions: GeoTIFF class map, probabilities, preview.

Output contract of large-scene inference:

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
* **Preview** PNG: the class map in the dataset's palette with a legend of the
  class names, downsampled (nearest neighbour, read with GDAL decimation) so
  its longest side is at most ``max_side`` pixels; drawn with matplotlib's Agg
  canvas (no display needed).

Rows are written as they are finished (see
:class:`m3plugins.apis.tile_blending.RowBandAccumulator`), so nothing the
size of the scene is held in memory. They go to temporary files next to the
outputs (:mod:`m3plugins.utils.atomic_write`); :meth:`SceneMapWriter.close`
renames complete files onto the output names and
:meth:`SceneMapWriter.abort` deletes them, so a failed or killed run never
leaves a partial map under an output name. Large outputs are tiled (256 x 256),
DEFLATE-compressed and BigTIFF when needed.
"""
import os
import warnings
from collections.abc import Sequence

import numpy as np
from rasterio.errors import NotGeoreferencedWarning

from m3plugins.utils.atomic_write import (
    atomic_write_path,
    commit_temp_path,
    discard_temp_path,
    reserve_temp_path,
)

__all__ = [
    'CLASS_MAP_NODATA', 'PROBABILITY_DTYPES', 'SceneMapWriter',
    'save_preview_png'
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
        """Write the finished rows ``[top, top + n)`` from ``(K, n, W)``
        blended logits.
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


def save_preview_png(class_map_path: str,
                     out_path: str,
                     class_names: Sequence[str],
                     palette: Sequence[Sequence[int]],
                     class_offset: int = 0,
                     max_side: int = 2048,
                     title: str | None = None) -> str:
    """Draw a class-map GeoTIFF in colour with a legend and save it as PNG.

    Args:
        class_map_path: A class map written by :class:`SceneMapWriter`.
        out_path: The PNG to write.
        class_names: Name of each class (K).
        palette: RGB colour (0-255) of each class (K).
        class_offset: The offset the class map was written with.
        max_side: Longest side of the drawn map in pixels.
        title: Figure title (default: the class map's file name).

    Returns:
        str: ``out_path``.
    """
    import rasterio
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from rasterio.enums import Resampling
    if len(palette) < len(class_names):
        raise ValueError(f'The palette has {len(palette)} colours for '
                         f'{len(class_names)} classes.')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        src = rasterio.open(class_map_path)
    with src:
        scale = max(src.height, src.width) / max_side
        shape = (max(1, round(src.height / max(scale, 1))),
                 max(1, round(src.width / max(scale, 1))))
        classes = src.read(
            1, out_shape=shape,
            resampling=Resampling.nearest).astype(np.int64)
    colours = np.zeros((256, 3), dtype=np.uint8)
    for index, colour in enumerate(palette[:len(class_names)]):
        colours[index + class_offset] = np.asarray(colour, dtype=np.uint8)
    image = colours[classes]
    dpi = 100
    height, width = shape
    # The map at one image pixel per figure pixel (at least 2 inches), the
    # legend in a column of its own to the right.
    map_w, map_h = max(width / dpi, 2.0), max(height / dpi, 2.0)
    legend_w, margin = 2.8, 0.1
    figure = Figure(figsize=(map_w + legend_w + 2 * margin, map_h + 0.5),
                    dpi=dpi)
    FigureCanvasAgg(figure)
    fig_w, fig_h = figure.get_size_inches()
    axes = figure.add_axes(
        [margin / fig_w, margin / fig_h, map_w / fig_w, map_h / fig_h])
    axes.imshow(image, interpolation='nearest')
    axes.set_axis_off()
    axes.set_title(title or os.path.basename(class_map_path), fontsize=9)
    handles = [
        Patch(facecolor=np.asarray(colour) / 255, edgecolor='black',
              label=f'{index + class_offset}: {name}')
        for index, (name, colour) in enumerate(zip(class_names, palette))
    ]
    figure.legend(handles=handles, loc='center left', fontsize=8,
                  frameon=False,
                  bbox_to_anchor=((map_w + 2 * margin) / fig_w, 0.5))
    with atomic_write_path(out_path) as temp_path:
        figure.savefig(temp_path, dpi=dpi, format='png')
    return out_path
