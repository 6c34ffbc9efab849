"""Draw class maps as PNG previews with a legend of the class names.

Two sources, one look (the map in the dataset's palette, a legend
``index: name`` beside it, drawn with matplotlib's Agg canvas, no display
needed), each written atomically (:mod:`m3plugins.utils.atomic_write`):

* :func:`save_preview_png`: a class-map GeoTIFF of any size (large-scene
  inference), downsampled while read (nearest neighbour, GDAL decimation)
  so its longest side is at most ``max_side`` pixels;
* :func:`save_class_map_png`: a (H, W) class map in memory (the test-time
  maps of the HSI scenes), labels 1..K with 0 = none, drawn in black.

Example:
    >>> save_preview_png('map.tif', 'map.png', ('road', 'tree'),
    ...                  [(255, 255, 255), (0, 255, 0)])
    >>> colourise_class_map(np.array([[0, 1]]), [(255, 0, 0)])  # (1, 2, 3)
"""
import os
from collections.abc import Sequence

import numpy as np

from m3plugins.utils.atomic_write import atomic_write_path

from .raster_reading import open_geotiff

__all__ = ['colourise_class_map', 'save_class_map_png', 'save_preview_png']


def colourise_class_map(class_map: np.ndarray,
                        palette: Sequence[Sequence[int]],
                        background: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """Paint a (H, W) map of labels 0..K (0 = none) as (H, W, 3) uint8 RGB.

    Args:
        class_map: (H, W) integer labels, 0 = unlabeled, k = class k.
        palette: K RGB triples, one per class 1..K.
        background: Colour of label 0.

    Returns:
        np.ndarray: (H, W, 3) uint8 colours.

    Raises:
        ValueError: If the map is not 2-D or a label exceeds the palette.
    """
    class_map = np.asarray(class_map)
    if class_map.ndim != 2:
        raise ValueError(f'class_map must be (H, W), got {class_map.shape}')
    colours = np.concatenate(
        [np.asarray([background], np.uint8),
         np.asarray(palette, np.uint8).reshape(-1, 3)])
    if class_map.size and (class_map.min() < 0
                           or class_map.max() >= len(colours)):
        raise ValueError(f'labels must lie in 0..{len(colours) - 1} (the '
                         f'palette has {len(palette)} classes), got '
                         f'{class_map.min()}..{class_map.max()}')
    return colours[class_map]


def save_class_map_png(class_map: np.ndarray,
                       out_path: str,
                       classes: Sequence[str],
                       palette: Sequence[Sequence[int]],
                       title: str | None = None,
                       dpi: int = 150) -> str:
    """Draw an in-memory class map in colour with a legend, save it as PNG.

    Args:
        class_map: (H, W) integer labels, 0 = none, k = class k (1-based).
        out_path: The PNG to write.
        classes: K class names (legend ``k: name``).
        palette: K RGB triples.
        title: Figure title.
        dpi: Resolution of the PNG.

    Returns:
        str: ``out_path``.

    Raises:
        ValueError: If names and colours differ in number, or a label
            exceeds the palette.
    """
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if len(classes) != len(palette):
        raise ValueError(f'{len(classes)} class names but {len(palette)} '
                         'palette colours')
    class_map = np.asarray(class_map)
    rgb = colourise_class_map(class_map, palette)
    height, width = class_map.shape
    scale = 8.0 / max(height, width)
    fig, ax = plt.subplots(
        figsize=(max(width * scale, 2.0) + 2.5, max(height * scale, 2.0)))
    ax.imshow(rgb, interpolation='nearest')
    ax.axis('off')
    if title:
        ax.set_title(title)
    handles = [
        Patch(facecolor=np.asarray(colour) / 255.0, edgecolor='black',
              label=f'{k + 1}: {name}')
        for k, (name, colour) in enumerate(zip(classes, palette))
    ]
    ax.legend(handles=handles, loc='upper left', bbox_to_anchor=(1.01, 1.0),
              fontsize='small', frameon=False)
    try:
        with atomic_write_path(out_path) as temp_path:
            fig.savefig(temp_path, dpi=dpi, bbox_inches='tight',
                        format='png')
    finally:
        plt.close(fig)
    return out_path


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

    Raises:
        ValueError: If the palette has fewer colours than classes.
        RasterReadError: If the class map cannot be read.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from rasterio.enums import Resampling
    if len(palette) < len(class_names):
        raise ValueError(f'The palette has {len(palette)} colours for '
                         f'{len(class_names)} classes.')
    with open_geotiff(class_map_path) as src:
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
