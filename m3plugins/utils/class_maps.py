"""Write a whole-scene classification map: colour PNG with legend + class map.

Used by :class:`m3plugins.engine.HSIClassMapHook` at test time and usable
on its own (e.g. after :func:`mmseg.apis.inference_model`).
"""
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import numpy as np

from .atomic_write import atomic_write_path

__all__ = ['colourise_class_map', 'save_class_map']


def colourise_class_map(class_map: np.ndarray,
                        palette: Sequence[Sequence[int]],
                        background: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """Paint a (H, W) map of labels 0..K (0 = none) as (H, W, 3) uint8 RGB.

    Args:
        class_map: (H, W) integer labels, 0 = unlabeled, k = class k.
        palette: K RGB triples, one per class 1..K.
        background: Colour of label 0.

    Raises:
        ValueError: If a label exceeds the palette.
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
    ``georeference`` is given, else ``<prefix>.npy``.

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
        dict: ``{'png': path, 'map': path}``.
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
    folder = osp.dirname(out_prefix)
    if folder:
        os.makedirs(folder, exist_ok=True)

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
    png = f'{out_prefix}.png'
    try:
        with atomic_write_path(png) as temp_path:
            fig.savefig(temp_path, dpi=dpi, bbox_inches='tight',
                        format='png')
    finally:
        plt.close(fig)

    dtype = np.uint8 if len(classes) < 256 else np.uint16
    if georeference is not None:
        import rasterio
        path = f'{out_prefix}.tif'
        with atomic_write_path(path) as temp_path, rasterio.open(
                temp_path, 'w', driver='GTiff', height=height, width=width,
                count=1, dtype=np.dtype(dtype).name,
                transform=georeference['transform'],
                crs=georeference.get('crs')) as dst:
            dst.write(class_map.astype(dtype), 1)
    else:
        path = f'{out_prefix}.npy'
        with atomic_write_path(path) as temp_path:
            np.save(temp_path, class_map.astype(dtype))
    return dict(png=png, map=path)
