"""The one fake-data generator of the ISPRS family (tiles, scenes, clips).

Like TorchGeo's ``tests/data/*/data.py``: real file names and folders, real
formats (GeoTIFF written by :func:`m3plugins.io.write_geotiff`: optical
uint8 with 3 or 4 bands, DSM one float32 band, labels 3-band uint8 colour
maps, eroded versions with black boundaries), tiny sizes. Tests import the
functions; run as a script to write a root for manual inspection::

    python tests/fake_data/isprs_tiles.py /tmp/fake_isprs

* :func:`write_fake_potsdam` / :func:`write_fake_vaihingen`: whole roots in
  the ISPRS layouts, random blocky classes (or, with ``learnable=True``,
  optical colours and heights that depend on the class, so a model learns
  something in a few iterations).
* :func:`make_scene` and :func:`write_scene_raster`: a smooth optical + DSM
  pair on a georeferenced grid, the input of large-scene inference.
"""
import os
import sys

import numpy as np
from rasterio.transform import Affine, from_origin
from scipy import ndimage

from m3plugins.datasets.isprs import ISPRS_PALETTE, indices_to_colour_labels
from m3plugins.io import write_geotiff

#: Pixel size of the fake tiles (height, width); not square on purpose.
FAKE_SIZE = (40, 56)
#: Grid of the fake ISPRS tiles: 5 cm pixels in UTM.
TILE_TRANSFORM = Affine(0.05, 0, 366000.0, 0, -0.05, 5808000.0)
#: CRS, upper-left corner (UTM 32N, metres) and pixel size of the
#: large-scene inference rasters.
CRS = 'EPSG:32632'
ORIGIN = (500000.0, 5400000.0)
PIXEL = 0.5


def write_tile_raster(path: str, bands: np.ndarray,
                      epsg: int | None = 32633,
                      transform=TILE_TRANSFORM,
                      nodata: float | None = None) -> str:
    """Write (bands, H, W) on the fake tiles' 5 cm grid (or ``transform``).

    ``epsg=None`` writes no CRS.
    """
    return write_geotiff(path, np.moveaxis(bands, 0, -1),
                         transform=transform,
                         crs=None if epsg is None else f'EPSG:{epsg}',
                         nodata=nodata)


def write_scene_raster(path, array, crs=CRS, origin=ORIGIN, pixel=PIXEL,
                       nodata=None) -> str:
    """Write (H, W[, C]) on a north-up UTM grid (no CRS: plain grid).

    The input rasters of large-scene inference; see :func:`make_scene`.
    """
    grid = {} if crs is None else dict(
        transform=from_origin(*origin, pixel, pixel), crs=crs)
    return write_geotiff(path, array, nodata=nodata, **grid)


def make_scene(height, width, seed=0):
    """A smooth-ish optical (uint8, 3 bands) + DSM (float32) pair."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    optical = np.stack([
        127 + 100 * np.sin(xx / 7.0 + k) * np.cos(yy / 11.0 - k)
        for k in range(3)
    ], axis=-1)
    optical += rng.normal(0, 10, optical.shape)
    optical = np.clip(optical, 0, 255).astype(np.uint8)
    dsm = (30 + 5 * np.sin(yy / 9.0) + 0.01 * xx +
           rng.normal(0, 0.5, (height, width))).astype(np.float32)
    return optical, dsm


def fake_scene(seed: int, size=FAKE_SIZE):
    """Random blocky class map, optical bands and DSM of one tile.

    Returns:
        dict: ``labels`` (H, W) uint8 class indices 0..5, ``rgbir``
        (4, H, W) uint8 (R, G, B, IR), ``dsm`` (1, H, W) float32 (heights in
        metres, 30 .. 60).
    """
    rng = np.random.default_rng(seed)
    height, width = size
    blocks = rng.integers(0, len(ISPRS_PALETTE), (height // 8 + 1,
                                                  width // 8 + 1))
    labels = np.kron(blocks, np.ones((8, 8), dtype=np.int64))[:height, :width]
    rgbir = rng.integers(0, 256, (4, height, width), dtype=np.uint8)
    dsm = rng.uniform(30.0, 60.0, (1, height, width)).astype(np.float32)
    return dict(labels=labels.astype(np.uint8), rgbir=rgbir, dsm=dsm)


def eroded(labels: np.ndarray, radius: int = 1) -> np.ndarray:
    """Class map with pixels near a class boundary set to 255."""
    footprint = np.ones((2 * radius + 1, ) * 2, dtype=bool)
    high = ndimage.maximum_filter(labels, footprint=footprint, mode='nearest')
    low = ndimage.minimum_filter(labels, footprint=footprint, mode='nearest')
    out = labels.copy()
    out[high != low] = 255
    return out


def colour(labels: np.ndarray) -> np.ndarray:
    """(H, W) indices (255 = boundary) -> (3, H, W) uint8 ISPRS colours."""
    return np.moveaxis(indices_to_colour_labels(labels), -1, 0)


def learnable_scenes(tiles, size=64, seed=0) -> dict:
    """Tiles whose optical colour and height depend on the class.

    Classes are blocks of 16 px; every pixel is labelled (no eroded
    boundary), so a model can learn something in a few iterations.

    Returns:
        dict: tile -> ``labels`` (H, W) uint8, ``rgbir`` (4, H, W) uint8
        (the infrared band a copy of red), ``dsm`` (1, H, W) float32.
    """
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (6, 3))
    heights = np.linspace(30, 50, 6)
    scenes = {}
    for tile in tiles:
        blocks = rng.integers(0, 6, (size // 16, size // 16))
        labels = np.kron(blocks, np.ones((16, 16), dtype=np.int64))
        optical = colours[labels].transpose(2, 0, 1) + rng.normal(
            0, 10, (3, size, size))
        dsm = heights[labels][None] + rng.normal(0, 0.5, (1, size, size))
        rgb = optical.clip(0, 255).astype(np.uint8)
        scenes[tile] = dict(labels=labels.astype(np.uint8),
                            rgbir=np.concatenate([rgb, rgb[:1]]),
                            dsm=dsm.astype(np.float32))
    return scenes


def write_fake_potsdam(root: str, tiles=('2_10', '6_7', '2_13'),
                       size=FAKE_SIZE, learnable: bool = False,
                       seed: int = 0) -> dict:
    """Write Potsdam tiles in the ISPRS layout (labels: TorchGeo layout).

    Args:
        root: Output folder.
        tiles: Tile ids.
        size: (H, W) of each tile; with ``learnable`` an int (square).
        learnable: Write :func:`learnable_scenes` (RGB, DSM and
            ``noBoundary`` labels without erosion only) instead of random
            blocks (every optical variant, full and eroded labels).
        seed: Seed of ``learnable`` scenes.

    Returns:
        dict: tile -> :func:`fake_scene` arrays plus ``eroded`` indices.
    """
    if learnable:
        scenes = learnable_scenes(tiles, size, seed)
    else:
        scenes = {tile: fake_scene(index, size)
                  for index, tile in enumerate(tiles)}
    for tile, scene in scenes.items():
        row, col = (int(p) for p in tile.split('_'))
        rgbir = scene['rgbir']
        variants = dict(RGB=('2_Ortho_RGB', rgbir[:3]),
                        IRRG=('3_Ortho_IRRG', rgbir[[3, 0, 1]]),
                        RGBIR=('4_Ortho_RGBIR', rgbir))
        for variant, (folder, bands) in variants.items():
            if learnable and variant != 'RGB':
                continue
            write_tile_raster(
                os.path.join(root, folder,
                             f'top_potsdam_{tile}_{variant}.tif'), bands)
        write_tile_raster(
            os.path.join(root, '1_DSM',
                         f'dsm_potsdam_{row:02d}_{col:02d}.tif'),
            scene['dsm'])
        if not learnable:
            write_tile_raster(
                os.path.join(root, f'top_potsdam_{tile}_label.tif'),
                colour(scene['labels']))
        scene['eroded'] = scene['labels'] if learnable else \
            eroded(scene['labels'])
        write_tile_raster(
            os.path.join(root, '5_Labels_all_noBoundary',
                         f'top_potsdam_{tile}_label_noBoundary.tif'),
            colour(scene['eroded']))
    return scenes


def write_fake_vaihingen(root: str, areas=('1', '2'),
                         size=FAKE_SIZE) -> dict:
    """Write Vaihingen areas in the ISPRS layout (eroded labels in root)."""
    scenes = {}
    for seed, area in enumerate(areas):
        scene = fake_scene(100 + seed, size)
        write_tile_raster(
            os.path.join(root, 'top', f'top_mosaic_09cm_area{area}.tif'),
            scene['rgbir'][[3, 0, 1]], epsg=32632)
        write_tile_raster(
            os.path.join(root, 'dsm', f'dsm_09cm_matching_area{area}.tif'),
            scene['dsm'], epsg=32632)
        write_tile_raster(
            os.path.join(root, f'top_mosaic_09cm_area{area}.tif'),
            colour(scene['labels']), epsg=32632)
        scene['eroded'] = eroded(scene['labels'])
        write_tile_raster(
            os.path.join(root, f'top_mosaic_09cm_area{area}_noBoundary.tif'),
            colour(scene['eroded']), epsg=32632)
        scenes[area] = scene
    return scenes


if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else 'fake_isprs'
    write_fake_potsdam(os.path.join(out, 'potsdam'))
    write_fake_vaihingen(os.path.join(out, 'vaihingen'))
    print(f'wrote {out}/potsdam and {out}/vaihingen')
