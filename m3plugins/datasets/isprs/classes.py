"""ISPRS 2D semantic labelling classes and their colour-coded label maps.

API:
    ISPRS_CLASSES, ISPRS_PALETTE, IGNORE_INDEX, BOUNDARY_COLOUR
    colour_labels_to_indices(rgb) -> (H, W) uint8 class indices
    indices_to_colour_labels(indices) -> (H, W, 3) uint8 ISPRS colours

Facts (ISPRS benchmark, Rottensteiner et al.,
doi:10.5194/isprsannals-I-3-293-2012):
the Potsdam and Vaihingen reference maps are RGB GeoTIFFs with one colour per
class; the eroded ``noBoundary`` versions paint the pixels within a 3-pixel
disc of a class boundary black (0, 0, 0), which the benchmark does not score.

Class order follows MMSeg (``mmseg.datasets.PotsdamDataset``) and the papers'
tables, clutter last, so that the paper protocol ("5 classes without
clutter") is simply the first five indices. TorchGeo's ``Potsdam2D`` /
``Vaihingen2D`` put clutter first; the colours are the same.

Pixels whose colour is the boundary black, or any colour that is not one of
the six class colours, become :data:`IGNORE_INDEX` (255).

The colours are mapped straight to these indices from the RGB files (no
converted PNG step; note that MMSeg's own ``dataset_converters/potsdam.py``
lists its colours in BGR order because ``mmcv.imread`` returns BGR, which is
easy to misread, cf. open-mmlab/mmsegmentation issue #2867).
"""
from collections.abc import Sequence

import numpy as np

__all__ = [
    'ISPRS_CLASSES', 'ISPRS_PALETTE', 'IGNORE_INDEX', 'BOUNDARY_COLOUR',
    'colour_labels_to_indices', 'indices_to_colour_labels'
]

#: Class names, MMSeg order (index = position).
ISPRS_CLASSES: tuple[str, ...] = ('impervious_surfaces', 'building',
                                  'low_vegetation', 'tree', 'car', 'clutter')

#: RGB colour of each class in the ISPRS reference maps, same order.
ISPRS_PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 255, 255),  # impervious surfaces
    (0, 0, 255),  # building
    (0, 255, 255),  # low vegetation
    (0, 255, 0),  # tree
    (255, 255, 0),  # car
    (255, 0, 0),  # clutter / background
)

#: Label value of pixels that are not scored (eroded boundaries, unknown).
IGNORE_INDEX = 255

#: Colour of the eroded boundary pixels in the ``noBoundary`` maps.
BOUNDARY_COLOUR = (0, 0, 0)


def _pack(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 colours -> (...) uint32 ``R << 16 | G << 8 | B``."""
    rgb = rgb.astype(np.uint32, copy=False)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def colour_labels_to_indices(
        rgb: np.ndarray,
        palette: Sequence[tuple[int, int, int]] = ISPRS_PALETTE,
        ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Convert an ISPRS colour label map to class indices.

    Args:
        rgb: (H, W, 3) integer array of label colours.
        palette: Colour of class 0, 1, ...; exact matches only.
        ignore_index: Value of every pixel whose colour is not in
            ``palette`` (boundary black included).

    Returns:
        np.ndarray: (H, W) uint8 class indices.

    Raises:
        ValueError: If ``rgb`` is not (H, W, 3).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError('An ISPRS label map must be (H, W, 3) RGB, got shape '
                         f'{rgb.shape}.')
    codes = _pack(rgb)
    out = np.full(codes.shape, ignore_index, dtype=np.uint8)
    for index, colour in enumerate(palette):
        out[codes == _pack(np.asarray(colour))] = index
    return out


def indices_to_colour_labels(
        indices: np.ndarray,
        palette: Sequence[tuple[int, int, int]] = ISPRS_PALETTE,
        ignore_colour: tuple[int, int, int] = BOUNDARY_COLOUR) -> np.ndarray:
    """Paint class indices with the ISPRS colours (the inverse mapping).

    Args:
        indices: (H, W) integer class indices.
        palette: Colour of class 0, 1, ...
        ignore_colour: Colour of indices outside the palette (e.g. 255).

    Returns:
        np.ndarray: (H, W, 3) uint8 colour map.
    """
    indices = np.asarray(indices)
    lut = np.tile(np.asarray(ignore_colour, dtype=np.uint8), (256, 1))
    lut[:len(palette)] = np.asarray(palette, dtype=np.uint8)
    return lut[indices.astype(np.uint8)]
