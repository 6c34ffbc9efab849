"""Write tiny fake ISPRS Potsdam / Vaihingen data roots in the real layout.

Like TorchGeo's ``tests/data/*/data.py``: real file names and folders, real
formats (GeoTIFF via rasterio: optical uint8 with 3 or 4 bands, DSM one
float32 band, labels 3-band uint8 colour maps, eroded versions with black
boundaries), tiny sizes. Tests import the functions; run as a script to
write a root for manual inspection::

    python tests/test_datasets_isprs/isprs_fake_data.py /tmp/fake_isprs
"""
import os
import sys

import numpy as np
import rasterio
from rasterio.transform import Affine
from scipy import ndimage

from m3plugins.datasets.isprs import ISPRS_PALETTE, indices_to_colour_labels

#: Pixel size of the fake tiles (height, width); not square on purpose.
FAKE_SIZE = (40, 56)


def write_geotiff(path: str, bands: np.ndarray, epsg: int = 32633) -> None:
    """Write (bands, H, W) as a GeoTIFF with a 5 cm grid."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    count, height, width = bands.shape
    with rasterio.open(
            path, 'w', driver='GTiff', height=height, width=width,
            count=count, dtype=bands.dtype, crs=f'EPSG:{epsg}',
            transform=Affine(0.05, 0, 366000.0, 0, -0.05, 5808000.0)) as dst:
        dst.write(bands)


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


def write_fake_potsdam(root: str, tiles=('2_10', '6_7', '2_13'),
                       size=FAKE_SIZE) -> dict:
    """Write Potsdam tiles in the ISPRS layout (labels: TorchGeo layout).

    Returns:
        dict: tile -> :func:`fake_scene` arrays plus ``eroded`` indices.
    """
    scenes = {}
    for seed, tile in enumerate(tiles):
        scene = fake_scene(seed, size)
        row, col = (int(p) for p in tile.split('_'))
        rgbir = scene['rgbir']
        variants = dict(RGB=('2_Ortho_RGB', rgbir[:3]),
                        IRRG=('3_Ortho_IRRG', rgbir[[3, 0, 1]]),
                        RGBIR=('4_Ortho_RGBIR', rgbir))
        for variant, (folder, bands) in variants.items():
            write_geotiff(
                os.path.join(root, folder,
                             f'top_potsdam_{tile}_{variant}.tif'), bands)
        write_geotiff(
            os.path.join(root, '1_DSM',
                         f'dsm_potsdam_{row:02d}_{col:02d}.tif'),
            scene['dsm'])
        write_geotiff(os.path.join(root, f'top_potsdam_{tile}_label.tif'),
                      colour(scene['labels']))
        scene['eroded'] = eroded(scene['labels'])
        write_geotiff(
            os.path.join(root, '5_Labels_all_noBoundary',
                         f'top_potsdam_{tile}_label_noBoundary.tif'),
            colour(scene['eroded']))
        scenes[tile] = scene
    return scenes


def write_fake_vaihingen(root: str, areas=('1', '2'),
                         size=FAKE_SIZE) -> dict:
    """Write Vaihingen areas in the ISPRS layout (eroded labels in root)."""
    scenes = {}
    for seed, area in enumerate(areas):
        scene = fake_scene(100 + seed, size)
        write_geotiff(
            os.path.join(root, 'top', f'top_mosaic_09cm_area{area}.tif'),
            scene['rgbir'][[3, 0, 1]], epsg=32632)
        write_geotiff(
            os.path.join(root, 'dsm', f'dsm_09cm_matching_area{area}.tif'),
            scene['dsm'], epsg=32632)
        write_geotiff(os.path.join(root, f'top_mosaic_09cm_area{area}.tif'),
                      colour(scene['labels']), epsg=32632)
        scene['eroded'] = eroded(scene['labels'])
        write_geotiff(
            os.path.join(root, f'top_mosaic_09cm_area{area}_noBoundary.tif'),
            colour(scene['eroded']), epsg=32632)
        scenes[area] = scene
    return scenes


if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else 'fake_isprs'
    write_fake_potsdam(os.path.join(out, 'potsdam'))
    write_fake_vaihingen(os.path.join(out, 'vaihingen'))
    print(f'wrote {out}/potsdam and {out}/vaihingen')
