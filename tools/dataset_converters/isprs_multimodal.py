"""Cut ISPRS Potsdam / Vaihingen tiles into MMSeg's clips, plus DSM clips.

Usage::

    # everything: img_dir/, ann_dir/ and dsm_dir/ (train and val)
    python tools/dataset_converters/isprs_multimodal.py potsdam \
        /data/ISPRS/Potsdam -o data/potsdam
    # you already ran MMSeg's potsdam.py / vaihingen.py: add dsm_dir/ only
    python tools/dataset_converters/isprs_multimodal.py vaihingen \
        /data/ISPRS/Vaihingen -o data/vaihingen --dsm-only

``ORIGINAL_ROOT`` holds the *extracted* ISPRS archives in the layout of the
package's whole-tile datasets (:mod:`m3plugins.datasets.isprs.potsdam`,
:mod:`m3plugins.datasets.isprs.vaihingen`): Potsdam
``2_Ortho_RGB/top_potsdam_{R}_{C}_RGB.tif``,
``1_DSM/dsm_potsdam_{RR}_{CC}.tif`` and
``5_Labels_all_noBoundary/top_potsdam_{R}_{C}_label_noBoundary.tif``;
Vaihingen ``top/top_mosaic_09cm_area{N}.tif``,
``dsm/dsm_09cm_matching_area{N}.tif`` and
``top_mosaic_09cm_area{N}_noBoundary.tif``. Every tile whose orthophoto is
found is converted; a found tile without its DSM or label stops the run with
the error of the whole-tile datasets (which archive to get, where to put it).

What is written under ``OUT_DIR`` (MMSeg 1.2.2's layout,
``tools/dataset_converters/potsdam.py`` and ``vaihingen.py``, and the
``data_prefix`` of its ``PotsdamDataset`` / ``ISPRSDataset`` configs)::

    img_dir/{train,val}/{name}.png   optical clip, uint8, file band order
                                     (Potsdam RGB, Vaihingen IRRG)
    ann_dir/{train,val}/{name}.png   eroded (noBoundary) label clip, uint8:
                                     0 = boundary / unknown colour, 1..6 =
                                     impervious surfaces, building, low
                                     vegetation, tree, car, clutter
    dsm_dir/{train,val}/{name}.tif   DSM clip, 1-band float32 GeoTIFF

``name`` is MMSeg's: ``{R}_{C}_{x0}_{y0}_{x1}_{y1}`` for Potsdam (tile
``2_10`` -> ``2_10_0_0_512_512``) and ``area{N}_{x0}_{y0}_{x1}_{y1}`` for
Vaihingen, x = column, y = row, end exclusive. The label clips are the
eroded ones because MMSeg's documentation has users convert
``5_Labels_all_noBoundary.zip`` (Potsdam) and
``..._ground_truth_eroded_COMPLETE.zip`` (Vaihingen); the papers train and
score on the eroded labels too. Index 0 becomes ignore (255) with
``reduce_zero_label=True``, as in MMSeg's ``PotsdamDataset``.

Clip positions reproduce MMSeg 1.2.2 exactly, so that every DSM clip has the
name of a clip the user already has: along an axis of length ``L`` MMSeg
tries ``n + 1`` starts ``k * clip_size`` (``n = ceil((L - clip_size) /
stride_size)``) and moves any start past the edge back to ``L - clip_size``;
the step between clips is therefore ``clip_size`` (512), not
``stride_size``, which only sets how many starts are tried. A 6000-pixel
Potsdam axis gives starts 0, 512, ..., 5120, 5488 (12 per axis, 144 clips
per tile). MMSeg writes the edge clip several times under one name; it is
written once here. The train / val split is MMSeg's: its train lists (24
Potsdam tiles with ``7_10``; 16 Vaihingen areas) equal TorchGeo's
``'train'`` splits used by the package, every other tile goes to ``val``.

Label coding: MMSeg maps the colours of its BGR-decoded label image through
the weighted sum ``2 B + 3 G + 4 R``; here each colour is matched exactly
(:func:`m3plugins.datasets.isprs.colour_labels_to_indices`). On the ISPRS
label files, which hold only the six class colours and the boundary black,
both give the same clips; a stray colour becomes 0 here, and in MMSeg too
unless its weighted sum happens to equal a class colour's.

DSM clips: the DSM is scaled per *original tile* before cutting (default
``'minmax'``: ``(h - min) / (max - min)`` over the whole tile, values in
[0, 1]), exactly as the whole-tile datasets and MoBaNet (Li et al., arXiv
2603.17705, official code sauryeo/MoBaNet) scale it, so a clip holds the
same values as that region of a whole tile read by ``ISPRSPotsdamDataset``.
Scaling each 512 clip by its own range instead would stretch a flat car
park to the same [0, 1] as a tower block and throw away the absolute height
differences between clips. The clips are stored as float32 GeoTIFFs
(deflate-compressed), so no precision is lost to 8- or 16-bit rounding; the
tile's minimum and maximum and the scaling are kept as GeoTIFF tags
(``source_tile``, ``window``, ``dsm_normalization``, ``tile_minimum``,
``tile_maximum``), and the clip keeps the georeferencing of its window when
the tile has one. No-data DSM pixels are written as 0 after scaling. The
one-column shortfall of the official ``1_DSM/dsm_potsdam_03_13.tif`` is
padded as in the whole-tile datasets.

All reads are windowed (``rasterio.windows.Window``): one band of
``clip_size`` rows of each raster at a time, cut into that row's clips, so
a 6000 x 6000 tile is never decoded whole; the DSM statistics are computed
once per tile, strip by strip.

Existing clips are not replaced unless ``--overwrite`` is given, and never
a file of the original tiles (also through a link): every planned clip is
checked before the first one is written. Errors the user can fix (missing
archive, unreadable tile, existing clips) end with one message and exit
status 2 (``--debug``: the traceback).
"""
import argparse
import glob
import math
import os
import re
import warnings
from collections.abc import Sequence

import numpy as np
import rasterio
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from m3plugins.datasets.isprs import (
    IGNORE_INDEX,
    POTSDAM_SPLITS,
    VAIHINGEN_SPLITS,
    ISPRSPotsdam,
    ISPRSTileError,
    ISPRSVaihingen,
    TileFiles,
    dsm_statistics,
    read_tile,
    tile_shape,
)
from m3plugins.datasets.normalization import NORMALIZATION_METHODS
from m3plugins.utils.output_paths import check_outputs
from m3plugins.utils.user_errors import (
    DEBUG_ENVIRONMENT_VARIABLE,
    exit_on_user_error,
)

#: City -> (whole-tile dataset class, MMSeg's training tile ids).
CITIES = {
    'potsdam': (ISPRSPotsdam, POTSDAM_SPLITS['train']),
    'vaihingen': (ISPRSVaihingen, VAIHINGEN_SPLITS['train']),
}

#: Folder names of MMSeg's clip layout (+ the DSM folder added here).
OPTICAL_DIR, LABEL_DIR, DSM_DIR = 'img_dir', 'ann_dir', 'dsm_dir'


def mmseg_clip_starts(length: int, clip_size: int,
                      stride_size: int) -> list[int]:
    """Start offsets of MMSeg 1.2.2's clips along one axis.

    Reproduces ``clip_big_image`` of MMSeg's ``dataset_converters/
    potsdam.py`` / ``vaihingen.py``: ``ceil((length - clip_size) /
    stride_size) + 1`` candidate starts spaced by ``clip_size``, each clamped
    to ``length - clip_size``; duplicates are dropped.

    Args:
        length: Pixels along the axis (tile width or height).
        clip_size: Clip side (MMSeg's ``--clip_size``, 512).
        stride_size: MMSeg's ``--stride_size`` (256).

    Returns:
        list[int]: Sorted distinct starts; each clip is
        ``[start, start + clip_size)``.

    Raises:
        ValueError: If the axis is shorter than a clip (MMSeg would cut
            clips with negative offsets) or a size is not positive.
    """
    if clip_size <= 0 or stride_size <= 0:
        raise ValueError(f'clip_size ({clip_size}) and stride_size '
                         f'({stride_size}) must be positive.')
    if length < clip_size:
        raise ValueError(f'A tile axis of {length} pixels is shorter than '
                         f'the clip size {clip_size}.')
    candidates = math.ceil((length - clip_size) / stride_size) + 1
    last = length - clip_size
    return sorted({min(k * clip_size, last) for k in range(candidates)})


def mmseg_clip_windows(height: int, width: int, clip_size: int,
                       stride_size: int) -> list[Window]:
    """Every MMSeg clip of a ``height`` x ``width`` tile, row by row.

    Returns:
        list[Window]: ``Window(x0, y0, clip_size, clip_size)`` per clip.
    """
    rows = mmseg_clip_starts(height, clip_size, stride_size)
    cols = mmseg_clip_starts(width, clip_size, stride_size)
    return [Window(x0, y0, clip_size, clip_size) for y0 in rows
            for x0 in cols]


def mmseg_clip_name(city: str, tile: str, window: Window) -> str:
    """MMSeg's clip file stem (tile id, x0, y0, x1, y1).

    For example ``2_10_0_0_512_512`` or ``area1_512_0_1024_512``.
    """
    prefix = tile if city == 'potsdam' else f'area{tile}'
    x0, y0 = int(window.col_off), int(window.row_off)
    return (f'{prefix}_{x0}_{y0}_{x0 + int(window.width)}_'
            f'{y0 + int(window.height)}')


def mmseg_label_codes(indices: np.ndarray) -> np.ndarray:
    """Package class indices -> MMSeg's ISPRS label PNG values.

    Args:
        indices: (H, W) uint8, 0..5 = classes, 255 = boundary / unknown.

    Returns:
        np.ndarray: (H, W) uint8, 0 = boundary / unknown, 1..6 = classes
        (MMSeg's ``reduce_zero_label=True`` maps them back).
    """
    codes = indices.astype(np.uint8) + 1
    codes[indices == IGNORE_INDEX] = 0
    return codes


def discover_tiles(city: str, root: str, optical: str) -> list[str]:
    """Tile ids whose orthophoto lies in ``root`` (sorted)."""
    if city == 'potsdam':
        folder = ISPRSPotsdam.optical_folders[optical]
        patterns = [os.path.join(root, folder, f'top_potsdam_*_{optical}.tif'),
                    os.path.join(root, f'top_potsdam_*_{optical}.tif')]
        regex = re.compile(rf'^top_potsdam_(\d+_\d+)_{optical}\.tif$')
    else:
        patterns = [os.path.join(root, 'top', 'top_mosaic_09cm_area*.tif')]
        regex = re.compile(r'^top_mosaic_09cm_area(\d+)\.tif$')
    tiles = set()
    for pattern in patterns:
        for path in glob.glob(pattern):
            match = regex.match(os.path.basename(path))
            if match:
                tiles.add(match.group(1))
    return sorted(tiles, key=lambda t: tuple(int(p) for p in t.split('_')))


def _write_dsm_clip(path: str, dsm: np.ndarray, tile_files: TileFiles,
                    window: Window, tags: dict[str, str]) -> None:
    """Write one (h, w) float32 DSM clip as a GeoTIFF with provenance tags."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(tile_files.dsm) as src:
            georeferenced = src.crs is not None
            crs = src.crs
            transform = window_transform(window, src.transform)
        profile = dict(driver='GTiff', height=dsm.shape[0],
                       width=dsm.shape[1], count=1, dtype='float32',
                       compress='deflate', predictor=3)
        if georeferenced:
            profile.update(crs=crs, transform=transform)
        with rasterio.open(path, 'w', **profile) as dst:
            dst.write(dsm.astype(np.float32)[None])
            dst.update_tags(**tags)


def convert_tile(city: str, tile_files: TileFiles, out_dir: str, split: str,
                 clip_size: int, stride_size: int, dsm_normalization: str,
                 dsm_edge_padding: int, dsm_only: bool) -> int:
    """Cut one tile into its clips; returns how many clips were written.

    Raises:
        ISPRSTileError: For unreadable rasters, modalities of different
            sizes, or an optical tile with values outside 0..255.
    """
    stats = (None if dsm_normalization == 'none' else
             dsm_statistics(tile_files.dsm))
    if dsm_only:
        tile_files = TileFiles(tile_files.tile, tile_files.optical,
                               tile_files.dsm)
    height, width = tile_shape(tile_files, dsm_edge_padding)
    tags = dict(source_tile=tile_files.tile,
                dsm_normalization=dsm_normalization)
    if stats is not None:
        tags.update(tile_minimum=repr(float(stats.minimum[0])),
                    tile_maximum=repr(float(stats.maximum[0])))
    windows = mmseg_clip_windows(height, width, clip_size, stride_size)
    # One band of clip_size rows per clip row, read once and cut into the
    # clips of that row (a tile stored in full-width strips decodes each
    # strip once instead of once per clip).
    band_window, band = None, None
    for window in windows:
        row = int(window.row_off)
        if band_window is None or int(band_window.row_off) != row:
            band_window = Window(0, row, width, int(window.height))
            band = read_tile(tile_files, band_window, dsm_stats=stats,
                             dsm_normalization=dsm_normalization,
                             with_label=not dsm_only,
                             dsm_edge_padding=dsm_edge_padding)
        cols = slice(int(window.col_off),
                     int(window.col_off) + int(window.width))
        name = mmseg_clip_name(city, tile_files.tile, window)
        _write_dsm_clip(
            os.path.join(out_dir, DSM_DIR, split, f'{name}.tif'),
            band['dsm'][:, cols], tile_files, window,
            dict(tags, window=f'{int(window.col_off)} {row} '
                 f'{int(window.width)} {int(window.height)}'))
        if dsm_only:
            continue
        optical = band['optical'][:, cols]
        if optical.min() < 0 or optical.max() > 255:
            raise ISPRSTileError(
                f'The optical tile {tile_files.optical} holds values outside '
                '0..255; MMSeg\'s PNG clips are uint8.')
        Image.fromarray(optical.astype(np.uint8)).save(
            os.path.join(out_dir, OPTICAL_DIR, split, f'{name}.png'))
        Image.fromarray(mmseg_label_codes(band['label'][:, cols])).save(
            os.path.join(out_dir, LABEL_DIR, split, f'{name}.png'))
    return len(windows)


def planned_clips(city: str, dataset, out_dir: str, clip_size: int,
                  stride_size: int, dsm_only: bool) -> list[tuple[str, str]]:
    """Every clip file a conversion writes, ``(path, what it is)``.

    The tiles' sizes come from their raster headers; no pixel is read.
    """
    folders = [DSM_DIR] if dsm_only else [OPTICAL_DIR, LABEL_DIR, DSM_DIR]
    train_tiles = CITIES[city][1]
    planned = []
    for tile_files in dataset.files:
        split = 'train' if tile_files.tile in train_tiles else 'val'
        height, width = tile_shape(tile_files, dataset.dsm_edge_padding)
        for window in mmseg_clip_windows(height, width, clip_size,
                                         stride_size):
            name = mmseg_clip_name(city, tile_files.tile, window)
            for folder in folders:
                suffix = '.tif' if folder == DSM_DIR else '.png'
                planned.append((
                    os.path.join(out_dir, folder, split, name + suffix),
                    f'{folder} clip of tile {tile_files.tile}'))
    return planned


def convert(city: str, root: str, out_dir: str, clip_size: int = 512,
            stride_size: int = 256, dsm_normalization: str = 'minmax',
            dsm_only: bool = False, tiles: Sequence[str] | None = None,
            optical: str | None = None,
            overwrite: bool = False) -> dict[str, int]:
    """Convert the tiles of ``root``; see the module docstring.

    Args:
        city: ``'potsdam'`` or ``'vaihingen'``.
        root: Extracted ISPRS archives.
        out_dir: Where ``img_dir``, ``ann_dir`` and ``dsm_dir`` go.
        clip_size: Clip side (MMSeg's default 512).
        stride_size: MMSeg's ``--stride_size`` (default 256).
        dsm_normalization: Per-tile DSM scaling, ``'minmax'`` (default),
            ``'zscore'`` or ``'none'`` (heights in metres).
        dsm_only: Write ``dsm_dir`` only (next to MMSeg's existing clips).
        tiles: Tile ids to convert (default: every orthophoto found).
        optical: Optical variant (default: the city's, Potsdam ``'RGB'``).
        overwrite: Replace clip files that already exist (never an input).

    Returns:
        dict: Split (``'train'``, ``'val'``) -> number of clips written.

    Raises:
        MissingDataError: No tile found, or a found tile lacks its DSM
            or label (the message says which archive to get).
        ISPRSTileError: A tile cannot be read or its modalities differ.
        OutputOverwriteError: Before any clip is written, for clips that
            exist (without ``overwrite``) or would replace an input file.
    """
    tile_dataset_class, train_tiles = CITIES[city]
    optical = optical or tile_dataset_class.default_optical
    if tiles is None:
        tiles = discover_tiles(city, root, optical)
    # With no tile found, the whole split is requested so that the error
    # lists what to download.
    dataset = tile_dataset_class(
        root=root, tiles=tiles or None, split='train', optical=optical,
        label_kind='noBoundary', dsm_normalization=dsm_normalization)
    inputs = {path: f'{modality} tile {files.tile}'
              for files in dataset.files
              for modality, path in files.modalities().items()}
    check_outputs(planned_clips(city, dataset, out_dir, clip_size,
                                stride_size, dsm_only),
                  inputs, overwrite=overwrite)
    folders = [DSM_DIR] if dsm_only else [OPTICAL_DIR, LABEL_DIR, DSM_DIR]
    for folder in folders:
        for split in ('train', 'val'):
            os.makedirs(os.path.join(out_dir, folder, split), exist_ok=True)
    counts = {'train': 0, 'val': 0}
    for tile_files in dataset.files:
        split = 'train' if tile_files.tile in train_tiles else 'val'
        written = convert_tile(city, tile_files, out_dir, split, clip_size,
                               stride_size, dsm_normalization,
                               dataset.dsm_edge_padding, dsm_only)
        counts[split] += written
        print(f'{city} tile {tile_files.tile}: {written} clips -> {split}',
              flush=True)
    return counts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring).

    Args:
        argv: Arguments; None: ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(
        description='Cut ISPRS Potsdam / Vaihingen tiles into MMSeg\'s '
        '512 x 512 clips (img_dir, ann_dir) plus aligned DSM clips '
        '(dsm_dir).')
    parser.add_argument('city', choices=sorted(CITIES))
    parser.add_argument('original_root',
                        help='folder with the extracted ISPRS archives')
    parser.add_argument('-o', '--out-dir', default=None,
                        help='output root (default data/{city})')
    parser.add_argument('--clip-size', type=int, default=512)
    parser.add_argument('--stride-size', type=int, default=256,
                        help='MMSeg\'s --stride_size (see the docstring: the '
                        'clips are clip-size apart)')
    parser.add_argument('--dsm-normalization', default='minmax',
                        choices=NORMALIZATION_METHODS)
    parser.add_argument('--dsm-only', action='store_true',
                        help='write dsm_dir only, next to existing MMSeg '
                        'img_dir / ann_dir clips')
    parser.add_argument('--tiles', nargs='+', default=None,
                        help='tile ids (default: every orthophoto found)')
    parser.add_argument('--optical', default=None,
                        help='optical variant (Potsdam: RGB, IRRG, RGBIR)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace clips that already exist (without it, '
                        'an existing clip stops the run before any is '
                        'written); an input is never replaced')
    parser.add_argument(
        '--debug', action='store_true',
        help='show the traceback of user errors instead of their message')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    """Convert the tiles named on the command line.

    Args:
        argv: Arguments; None: ``sys.argv[1:]``.

    Returns:
        dict[str, int]: Split -> number of clips written.
    """
    args = parse_args(argv)
    if args.debug:
        os.environ[DEBUG_ENVIRONMENT_VARIABLE] = '1'
    out_dir = args.out_dir or os.path.join('data', args.city)
    with exit_on_user_error():
        counts = convert(args.city, args.original_root, out_dir,
                         clip_size=args.clip_size,
                         stride_size=args.stride_size,
                         dsm_normalization=args.dsm_normalization,
                         dsm_only=args.dsm_only, tiles=args.tiles,
                         optical=args.optical, overwrite=args.overwrite)
    print(f'Done: {counts["train"]} train and {counts["val"]} val clips in '
          f'{out_dir}')
    return counts


if __name__ == '__main__':
    main()
