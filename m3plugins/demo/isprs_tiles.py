"""Synthetic optical + DSM tiles in the exact ISPRS Potsdam layout.

API:
    make_demo_isprs(root, seed=0, tile_size=512) -> root
    DEMO_TRAIN_TILES = ('2_10', '3_11', '6_8', '7_12')
    DEMO_TEST_TILES = ('2_13', '5_14')

The ISPRS data may not be redistributed, so demos, tutorials and smoke tests
use these generated tiles instead. They carry real Potsdam tile names (four
of the training split, two of the test split) and the real file layout and
formats, so :class:`~m3plugins.datasets.isprs.ISPRSPotsdam` and the MMSeg
``ISPRSPotsdamDataset`` read them through exactly the code path of the real
data. Select them with the ``tiles`` override, e.g. in a config::

    train_dataloader = dict(dataset=dict(
        type='ISPRSPotsdamDataset', data_root='data/m3plugins_demo/potsdam',
        tiles=['2_10', '3_11', '6_8', '7_12'], ...))
    test_dataloader = dict(dataset=dict(..., tiles=['2_13', '5_14']))

Files written under ``root`` for each tile ``{R}_{C}`` (``tile_size`` pixels
square, GeoTIFF, deflate-compressed)::

    1_DSM/dsm_potsdam_{RR}_{CC}.tif                    float32, metres
    2_Ortho_RGB/top_potsdam_{R}_{C}_RGB.tif            uint8, R G B
    3_Ortho_IRRG/top_potsdam_{R}_{C}_IRRG.tif          uint8, IR R G
    4_Ortho_RGBIR/top_potsdam_{R}_{C}_RGBIR.tif        uint8, R G B IR
    top_potsdam_{R}_{C}_label.tif                      uint8 RGB colour map
    5_Labels_all_noBoundary/top_potsdam_{R}_{C}_label_noBoundary.tif

plus ``demo_manifest.json`` (generator, version, seed, size, md5 of every
file); a second call with the same arguments finds the manifest valid and
writes nothing (idempotent), other arguments regenerate the files. ``root``
must not exist, be empty, or hold this manifest: a folder with anyone else's
files (real Potsdam tiles, say) is refused before anything is written (see
:mod:`m3plugins.demo.demo_folder`).

How a scene is made (``numpy.random.default_rng`` seeded by ``seed`` and the
tile's index; the same arguments give identical files):

* ground: a smooth terrain 30-34 m covered by **low vegetation** (light
  green, high infrared, some dry brownish patches, DSM + 0-0.3 m);
* **impervious surfaces**: 2-3 roads per direction (grey bands 18-30 px
  wide) and a few paved yards, at ground height;
* **buildings**: 5-9 non-overlapping rectangles 40-110 px with roof colours
  drawn from terracotta, dark grey, light grey (close to the roads' grey)
  and brown, flat or gabled roofs 6-18 m above ground;
* **trees**: 8-13 clusters of round crowns (radius 8-20 px), darker green than
  low vegetation but overlapping it in colour, domes 4-14 m high;
* **cars**: 12 x 24 px rectangles on the roads, bright colours, 1.5 m;
* **clutter**: 2-4 rare irregular reddish patches of 16-36 px (close to
  terracotta roofs in colour), 0.5-2 m.

Every object's colour is jittered, every pixel gets Gaussian noise
(sigma 10 in 0..255) under a smooth illumination field, and the DSM gets
0.15 m noise. Colours alone confuse light-grey roofs with roads, trees with
low vegetation and clutter with terracotta roofs; the DSM separates them,
so the task rewards using both modalities. The ``noBoundary`` labels paint
pixels within 3 pixels of a class boundary black (ISPRS's eroded
references use a disc of that radius).
"""
import os
import os.path as osp

import numpy as np
import rasterio
from rasterio.transform import Affine
from scipy import ndimage

from ..datasets.isprs.classes import indices_to_colour_labels
from .demo_folder import (
    DemoFolderWriter,
    demo_files_are_current,
    log_demo_reuse,
)

__all__ = [
    'make_demo_isprs', 'DEMO_TRAIN_TILES', 'DEMO_TEST_TILES',
    'DEMO_TILE_SIZE'
]

#: Real Potsdam training / test tile names used by the demo.
DEMO_TRAIN_TILES: tuple[str, ...] = ('2_10', '3_11', '6_8', '7_12')
DEMO_TEST_TILES: tuple[str, ...] = ('2_13', '5_14')
DEMO_TILE_SIZE = 512

_GENERATOR = 'm3plugins.demo.make_demo_isprs'
_VERSION = 1
_BOUNDARY_RADIUS = 3
_GSD = 0.05  # metres per pixel, as Potsdam

# Class indices (MMSeg order, see m3plugins.datasets.isprs.classes).
IMPERVIOUS, BUILDING, LOW_VEGETATION, TREE, CAR, CLUTTER = range(6)

# Mean colours (R, G, B, IR) in 0..255.
_ROAD = (128, 128, 124, 90)
_LOW_VEGETATION = (112, 150, 82, 185)
_DRY_GRASS = (150, 140, 95, 150)
_TREE = (58, 100, 50, 210)
_ROOFS = ((178, 82, 62, 105), (88, 88, 94, 80), (150, 150, 146, 95),
          (135, 100, 72, 100))
_CAR_COLOURS = ((200, 30, 30, 90), (30, 60, 190, 80), (235, 235, 235, 140),
                (25, 25, 25, 40), (230, 200, 30, 120))
_CLUTTER = (165, 92, 78, 110)


def _smooth(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Zero-mean smooth random field scaled to [-1, 1]."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (np.abs(field).max() + 1e-12)


def _jitter(rng: np.random.Generator, colour, amount: float = 12.0):
    """Colour with a random brightness shift and a smaller hue shift."""
    return (np.asarray(colour, np.float64) + rng.normal(0, amount) +
            rng.normal(0, amount / 3, 4))


class _Scene:
    """Label map, 4-band radiance and DSM under construction."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.rng = rng
        self.size = size
        self.labels = np.full((size, size), LOW_VEGETATION, np.uint8)
        self.colour = np.empty((size, size, 4), np.float64)
        self.colour[:] = _LOW_VEGETATION
        dry = _smooth(rng, (size, size), size / 10) > 0.45
        self.colour[dry] = _DRY_GRASS
        self.ground = 32.0 + 2.0 * _smooth(rng, (size, size), size / 3)
        self.height = 0.3 * np.clip(_smooth(rng, (size, size), 4), 0, 1)

    def paint(self, mask: np.ndarray, cls: int, colour,
              height) -> None:
        self.labels[mask] = cls
        self.colour[mask] = colour
        self.height[mask] = height if np.isscalar(height) else height[mask]

    def free(self, rows: slice, cols: slice, allowed=(LOW_VEGETATION, )):
        return np.isin(self.labels[rows, cols], allowed).all()


def _roads(scene: _Scene) -> list[tuple[slice, slice, str]]:
    rng, size = scene.rng, scene.size
    roads = []
    for direction in ('horizontal', 'vertical'):
        count = rng.integers(2, 4)
        centres = np.sort(rng.choice(np.arange(40, size - 40, 8), count,
                                     replace=False))
        for centre in centres:
            width = int(rng.integers(18, 31))
            band = slice(int(centre) - width // 2, int(centre) + width // 2)
            rows, cols = ((band, slice(0, size)) if direction == 'horizontal'
                          else (slice(0, size), band))
            mask = np.zeros((size, size), bool)
            mask[rows, cols] = True
            scene.paint(mask, IMPERVIOUS, _jitter(scene.rng, _ROAD, 6), 0.0)
            roads.append((rows, cols, direction))
    for _ in range(rng.integers(1, 4)):  # paved yards
        h, w = rng.integers(20, 50, 2)
        r, c = rng.integers(0, size - 50, 2)
        rows, cols = slice(r, r + h), slice(c, c + w)
        mask = np.zeros((size, size), bool)
        mask[rows, cols] = True
        scene.paint(mask, IMPERVIOUS, _jitter(rng, _ROAD, 10), 0.0)
    return roads


def _buildings(scene: _Scene) -> None:
    rng, size = scene.rng, scene.size
    placed, wanted = 0, rng.integers(5, 10)
    for _ in range(200):
        if placed == wanted:
            break
        h, w = rng.integers(40, 111, 2)
        r, c = rng.integers(2, size - h - 2), rng.integers(2, size - w - 2)
        grown = (slice(r - 2, r + h + 2), slice(c - 2, c + w + 2))
        if not scene.free(*grown):
            continue
        mask = np.zeros((size, size), bool)
        mask[r:r + h, c:c + w] = True
        eaves = rng.uniform(6, 18)
        height = np.full((size, size), eaves)
        if rng.random() < 0.5:  # gabled roof along the longer side
            rows, cols = np.mgrid[0:size, 0:size]
            across = (np.abs(rows - (r + h / 2)) / (h / 2) if w >= h else
                      np.abs(cols - (c + w / 2)) / (w / 2))
            height = eaves + rng.uniform(2, 4) * (1 - np.clip(across, 0, 1))
        roof = _ROOFS[rng.integers(len(_ROOFS))]
        scene.paint(mask, BUILDING, _jitter(rng, roof), height)
        placed += 1


def _trees(scene: _Scene) -> None:
    rng, size = scene.rng, scene.size
    rows, cols = np.mgrid[0:size, 0:size]
    for _ in range(rng.integers(8, 14)):  # clusters
        centre = rng.uniform(0, size, 2)
        for _ in range(rng.integers(3, 9)):
            cr, cc = centre + rng.normal(0, 22, 2)
            radius = rng.uniform(8, 20)
            dist = np.hypot(rows - cr, cols - cc) / radius
            crown = (dist < 1) & np.isin(scene.labels,
                                         (LOW_VEGETATION, TREE))
            top = rng.uniform(4, 14)
            dome = top * np.sqrt(np.clip(1 - dist**2, 0, 1)) + 1.0
            scene.paint(crown, TREE, _jitter(rng, _TREE, 14),
                        np.maximum(dome, scene.height))


def _cars(scene: _Scene, roads) -> None:
    rng, size = scene.rng, scene.size
    for rows, cols, direction in roads:
        for _ in range(rng.integers(1, 5)):
            long_, short = 24, 12
            if direction == 'horizontal':
                r = rng.integers(rows.start + 2, max(rows.stop - short - 1,
                                                     rows.start + 3))
                c = rng.integers(0, size - long_)
                box = (slice(r, r + short), slice(c, c + long_))
            else:
                c = rng.integers(cols.start + 2, max(cols.stop - short - 1,
                                                     cols.start + 3))
                r = rng.integers(0, size - long_)
                box = (slice(r, r + long_), slice(c, c + short))
            if not scene.free(*box, allowed=(IMPERVIOUS, )):
                continue
            mask = np.zeros((size, size), bool)
            mask[box] = True
            colour = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))]
            scene.paint(mask, CAR, _jitter(rng, colour, 8), 1.5)


def _clutter(scene: _Scene) -> None:
    rng, size = scene.rng, scene.size
    for _ in range(rng.integers(2, 5)):
        h, w = rng.integers(16, 37, 2)
        r, c = rng.integers(0, size - 37, 2)
        blob = ndimage.gaussian_filter(rng.random((h, w)), 3) > 0.47
        mask = np.zeros((size, size), bool)
        mask[r:r + h, c:c + w] = blob
        mask &= scene.labels != BUILDING
        scene.paint(mask, CLUTTER, _jitter(rng, _CLUTTER),
                    rng.uniform(0.5, 2.0))


def _render(seed: int, index: int, size: int) -> dict[str, np.ndarray]:
    """One tile: labels (H, W), rgbir (4, H, W) uint8, dsm (1, H, W)."""
    rng = np.random.default_rng([seed, index])
    scene = _Scene(rng, size)
    roads = _roads(scene)
    _buildings(scene)
    _trees(scene)
    _cars(scene, roads)
    _clutter(scene)
    light = 1.0 + 0.1 * _smooth(rng, (size, size), size / 4)
    radiance = scene.colour * light[..., None] + rng.normal(
        0, 10, scene.colour.shape)
    rgbir = np.clip(np.rint(radiance), 0, 255).astype(np.uint8)
    dsm = scene.ground + scene.height + rng.normal(0, 0.15, (size, size))
    return dict(
        labels=scene.labels,
        rgbir=np.moveaxis(rgbir, -1, 0),
        dsm=dsm[None].astype(np.float32))


def _erode_boundaries(labels: np.ndarray, radius: int) -> np.ndarray:
    """Labels with pixels within ``radius`` of another class set to 255."""
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = yy**2 + xx**2 <= radius**2
    high = ndimage.maximum_filter(labels, footprint=disc, mode='nearest')
    low = ndimage.minimum_filter(labels, footprint=disc, mode='nearest')
    out = labels.copy()
    out[high != low] = 255
    return out


def _tile_files(tile: str) -> dict[str, str]:
    row, col = (int(p) for p in tile.split('_'))
    return dict(
        dsm=osp.join('1_DSM', f'dsm_potsdam_{row:02d}_{col:02d}.tif'),
        RGB=osp.join('2_Ortho_RGB', f'top_potsdam_{tile}_RGB.tif'),
        IRRG=osp.join('3_Ortho_IRRG', f'top_potsdam_{tile}_IRRG.tif'),
        RGBIR=osp.join('4_Ortho_RGBIR', f'top_potsdam_{tile}_RGBIR.tif'),
        label=f'top_potsdam_{tile}_label.tif',
        noBoundary=osp.join('5_Labels_all_noBoundary',
                            f'top_potsdam_{tile}_label_noBoundary.tif'))


def _write(path: str, bands: np.ndarray, index: int) -> None:
    count, height, width = bands.shape
    # A made-up but plausible UTM 33N grid, one tile beside the other.
    transform = Affine(_GSD, 0.0, 366000.0 + index * width * _GSD, 0.0, -_GSD,
                       5808000.0)
    with rasterio.open(
            path, 'w', driver='GTiff', height=height, width=width,
            count=count, dtype=bands.dtype, crs='EPSG:32633',
            transform=transform, compress='deflate') as dst:
        dst.write(bands)


def make_demo_isprs(root: str, seed: int = 0,
                    tile_size: int = DEMO_TILE_SIZE) -> str:
    """Write the demo tiles (see the module docstring) into ``root``.

    Args:
        root: Folder that becomes an ISPRS Potsdam data root.
        seed: Seed of every random choice; same seed, same files.
        tile_size: Tile side in pixels (at least 128).

    Returns:
        str: ``root``.

    Raises:
        ValueError: If ``tile_size`` < 128.
        DemoFolderNotEmptyError: If ``root`` holds files this generator did
            not write (they are named; nothing is touched).
    """
    if tile_size < 128:
        raise ValueError(f'tile_size must be at least 128, got {tile_size}.')
    root = os.fspath(root)
    tiles = DEMO_TRAIN_TILES + DEMO_TEST_TILES
    settings = dict(version=_VERSION, seed=seed, tile_size=tile_size,
                    tiles=list(tiles))
    files = [name for tile in tiles for name in _tile_files(tile).values()]
    description = (f'the ISPRS-style demo tiles ({len(tiles)} tiles of '
                   f'{tile_size} px, seed {seed})')
    if demo_files_are_current(root, _GENERATOR, settings, files):
        log_demo_reuse(root, description)
        return root
    writer = DemoFolderWriter(root, _GENERATOR, settings, files, description)
    for index, tile in enumerate(tiles):
        scene = _render(seed, index, tile_size)
        rgbir = scene['rgbir']
        arrays = dict(
            dsm=scene['dsm'],
            RGB=rgbir[:3],
            IRRG=rgbir[[3, 0, 1]],
            RGBIR=rgbir,
            label=np.moveaxis(indices_to_colour_labels(scene['labels']), -1,
                              0),
            noBoundary=np.moveaxis(
                indices_to_colour_labels(
                    _erode_boundaries(scene['labels'], _BOUNDARY_RADIUS)),
                -1, 0))
        for key, name in _tile_files(tile).items():
            bands = np.ascontiguousarray(arrays[key])
            writer.write(name, lambda path, bands=bands, index=index: _write(
                path, bands, index))
    writer.finish()
    return root
