"""Crops/s from 6000 x 6000 ISPRS tiles: window reading vs whole-tile decoding.

Writes one (or more) Potsdam-sized tiles in the Potsdam layout (optical uint8,
DSM float32, RGB label map; GDAL's default uncompressed striped GeoTIFF, or
``--tiled`` 256 x 256 blocks), then times random ``--crop`` crops of optical +
DSM + label:

* window: m3plugins' ``LoadRandomMultimodalWindow`` (reads only the window
  of each raster, DSM scaled with cached whole-tile statistics);
* baseline: decoding the whole tile per crop and cutting the crop out (what
  ``LoadImageFromFile`` + ``LoadAnnotations`` + ``RandomCrop`` do), through the
  same reader.

Both run single-threaded in one process with the files in the page cache
(just written), so the figures compare decoding work, not disk speed.
Prints the median seconds per crop over ``--repeats`` timed rounds, crops per
second and the ratio.

Example:
    python tools/benchmark_isprs_crops.py --window-crops 200 --baseline-crops 3
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

import m3plugins  # noqa: F401  (registers the transform)
from m3plugins.datasets.isprs import ISPRSPotsdam, dsm_statistics, read_tile
from m3plugins.datasets.transforms.multimodal_tile_loading import (
    LoadRandomMultimodalWindow,
)
from m3plugins.utils.atomic_write import atomic_write_path

TILE = '2_10'
GRID = Affine(0.05, 0.0, 366000.0, 0.0, -0.05, 5808000.0)  # 5 cm, UTM 33N


def write_tile(root: str, size: int, optical: str, tiled: bool) -> None:
    """A Potsdam-layout tile of ``size`` x ``size`` written in row strips."""
    rng = np.random.default_rng(0)
    bands = 4 if optical == 'RGBIR' else 3
    folder = {'RGB': '2_Ortho_RGB', 'IRRG': '3_Ortho_IRRG',
              'RGBIR': '4_Ortho_RGBIR'}[optical]
    specs = [
        (os.path.join(folder, f'top_potsdam_{TILE}_{optical}.tif'), bands,
         'uint8'),
        (os.path.join('1_DSM', 'dsm_potsdam_02_10.tif'), 1, 'float32'),
        (os.path.join('5_Labels_all_noBoundary',
                      f'top_potsdam_{TILE}_label_noBoundary.tif'), 3, 'uint8'),
    ]
    colours = np.array([[255, 255, 255], [0, 0, 255], [0, 255, 255],
                        [0, 255, 0], [255, 255, 0], [255, 0, 0], [0, 0, 0]],
                       np.uint8)
    extra = dict(tiled=True, blockxsize=256, blockysize=256) if tiled else {}
    for name, count, dtype in specs:
        path = os.path.join(root, name)
        with atomic_write_path(path) as temp_path, rasterio.open(
                temp_path, 'w', driver='GTiff', width=size, height=size,
                count=count, dtype=dtype, crs='EPSG:32633', transform=GRID,
                **extra) as dst:
            for row in range(0, size, 500):
                rows = min(500, size - row)
                if name.startswith('1_DSM'):
                    data = rng.uniform(30, 60, (1, rows, size))
                elif 'label' in name:
                    classes = rng.integers(0, 7, (rows // 10 + 1,
                                                  size // 10 + 1))
                    block = np.ones((10, 10), int)
                    idx = np.kron(classes, block)[:rows, :size]
                    data = np.moveaxis(colours[idx], -1, 0)
                else:
                    data = rng.integers(0, 256, (count, rows, size))
                dst.write(data.astype(dtype),
                          window=Window(0, row, size, rows))


def time_rounds(fn, crops: int, repeats: int) -> list:
    """Seconds per crop of ``repeats`` rounds of ``crops`` calls."""
    per_crop = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(crops):
            fn()
        per_crop.append((time.perf_counter() - start) / crops)
    return per_crop


def main() -> None:
    """Write the tile(s), time both crop paths and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=6000)
    parser.add_argument('--crop', type=int, default=256)
    parser.add_argument('--optical', default='RGB',
                        choices=['RGB', 'IRRG', 'RGBIR'])
    parser.add_argument('--tiled', action='store_true',
                        help='write 256 x 256 internal blocks')
    parser.add_argument('--window-crops', type=int, default=200)
    parser.add_argument('--baseline-crops', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--workdir', help='where to write the tile '
                        '(default: a temporary folder, removed afterwards)')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as root:
        start = time.perf_counter()
        write_tile(root, args.size, args.optical, args.tiled)
        print(f'wrote a {args.size} x {args.size} {args.optical} + DSM + '
              f'label tile in {time.perf_counter() - start:.1f} s '
              f'({"tiled 256" if args.tiled else "striped"} GeoTIFF)')
        files = ISPRSPotsdam(root, tiles=[TILE], optical=args.optical).files[0]
        start = time.perf_counter()
        stats = dsm_statistics(files.dsm)
        print(f'whole-tile DSM statistics (once per tile, cached): '
              f'{time.perf_counter() - start:.2f} s')
        item = dict(img_path=files.optical, dsm_path=files.dsm,
                    seg_map_path=files.label, tile=TILE,
                    dsm_statistics=stats, dsm_normalization='minmax')
        window = LoadRandomMultimodalWindow(crop_size=args.crop)
        rng = np.random.default_rng(0)

        def window_crop():
            window(dict(item))

        def whole_tile_crop():
            arrays = read_tile(files, None, dsm_stats=item['dsm_statistics'])
            r, c = rng.integers(0, args.size - args.crop + 1, 2)
            crop = (slice(r, r + args.crop), slice(c, c + args.crop))
            np.concatenate([arrays['optical'][crop],
                            arrays['dsm'][crop][..., None]], axis=-1)
            arrays['label'][crop].copy()

        window_crop()  # warm up (imports, caches)
        windows = time_rounds(window_crop, args.window_crops, args.repeats)
        wholes = time_rounds(whole_tile_crop, args.baseline_crops,
                             args.repeats)
    w, b = statistics.median(windows), statistics.median(wholes)
    print(f'crop {args.crop} x {args.crop}, median of {args.repeats} rounds')
    print(f'window reading      : {w * 1e3:9.2f} ms/crop  '
          f'{1 / w:8.1f} crops/s  ({args.window_crops} crops/round)')
    print(f'whole-tile decoding : {b * 1e3:9.2f} ms/crop  '
          f'{1 / b:8.2f} crops/s  ({args.baseline_crops} crops/round)')
    print(f'ratio (window / whole-tile crops per second): {b / w:.1f}x')


if __name__ == '__main__':
    main()
