"""Writers of tiny scene files in the real on-disk formats (TorchGeo style).

Like TorchGeo's ``tests/data/*/data.py``, but run at test time into
``tmp_path``: MATLAB v5 (scipy), MATLAB v7.3 (HDF5 with MATLAB's 512-byte
header and column-major layout, via h5py), GeoTIFF (rasterio) and ``.npy``.
``write_scene`` writes every file a scene class accepts first (or its GeoTIFF
form) with the real band counts and a small spatial size; its GeoTIFFs are
plain image grids unless given a georeference (transform and CRS).
"""
import os.path as osp
from typing import Any

import h5py
import numpy as np
import rasterio
from rasterio import Affine
from scipy.io import savemat

from m3plugins.datasets.hsi import HSIScene

SMALL_SIZE = (12, 20)


def write_mat_v5(path: str, arrays: dict[str, np.ndarray]) -> str:
    savemat(path, arrays)
    return path


def write_mat_v73(path: str, arrays: dict[str, np.ndarray]) -> str:
    """A MATLAB v7.3 file: HDF5 behind a 512-byte text header, arrays stored
    column-major (h5py sees the axes reversed), as MATLAB writes them.
    """
    with h5py.File(path, 'w', userblock_size=512) as f:
        for key, array in arrays.items():
            f.create_dataset(key, data=np.ascontiguousarray(np.asarray(
                array).T))
    header = b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by tests'
    with open(path, 'r+b') as f:
        f.write(header.ljust(512, b' '))
    return path


#: (affine transform, CRS) of a GeoTIFF.
Georef = tuple[Affine, Any]


def write_geotiff(path: str, array: np.ndarray,
                  georeference: Georef | None = None) -> str:
    """A GeoTIFF, bands first on disk. Without ``georeference`` it has a
    pixel-unit transform and no CRS (not georeferenced).
    """
    array = np.asarray(array)
    bands = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
    transform, crs = georeference or (Affine(1.0, 0.0, 0.0, 0.0, -1.0,
                                             float(bands.shape[1])), None)
    with rasterio.open(path, 'w', driver='GTiff', height=bands.shape[1],
                       width=bands.shape[2], count=bands.shape[0],
                       dtype=bands.dtype, transform=transform,
                       crs=crs) as dst:
        dst.write(bands)
    return path


def _first_key(key) -> str | None:
    if key is None or isinstance(key, str):
        return key
    return next((k for k in key if k is not None), None)


def _pick(candidates, fmt: str):
    if fmt == 'tif':
        for filename, key in candidates:
            if filename.endswith('.tif'):
                return filename, key
    return candidates[0]


def _write(root: str, candidates, array: np.ndarray, fmt: str,
           georeference: Georef | None = None) -> str:
    filename, key = _pick(candidates, fmt)
    path = osp.join(root, filename)
    if filename.endswith('.tif'):
        return write_geotiff(path, array, georeference)
    key = _first_key(key) or osp.splitext(filename)[0]
    writer = write_mat_v73 if fmt == 'mat73' else write_mat_v5
    return writer(path, {key: array})


def make_labels(rng, size: tuple[int, int], num_classes: int):
    """A ground truth where every class has >= 4 pixels, about 1/3
    unlabeled, and a train/test split with >= 1 train pixel per class.
    """
    height, width = size
    gt = rng.integers(1, num_classes + 1, size=size)
    gt[rng.random(size) < 0.3] = 0
    flat = gt.ravel()
    for k in range(num_classes):  # guarantee 4 pixels of each class
        flat[4 * k:4 * k + 4] = k + 1
    gt = flat.reshape(size).astype(np.uint8)
    train = np.zeros_like(gt)
    for k in range(1, num_classes + 1):
        pixels = np.flatnonzero(gt == k)
        chosen = rng.choice(pixels, max(1, pixels.size // 4), replace=False)
        train.flat[chosen] = k
    test = np.where(train > 0, 0, gt).astype(np.uint8)
    return gt, train, test


def write_scene(root: str,
                scene_cls: type,
                size: tuple[int, int] = SMALL_SIZE,
                fmt: str = 'mat5',
                seed: int = 0,
                modality_size: dict[str, tuple[int, int]] | None = None,
                nan_in: str | None = None,
                georeference: Georef | None = None,
                modality_georeference: dict[str, Georef] | None = None
                ) -> dict[str, np.ndarray]:
    """Write all files of ``scene_cls`` into ``root``; return the arrays.

    Args:
        fmt: 'mat5', 'mat73' or 'tif' (GeoTIFF where the scene accepts it,
            MATLAB v5 otherwise).
        modality_size: Per-modality spatial size overrides (mismatch tests).
        nan_in: Modality whose first pixel becomes NaN.
        georeference: (transform, CRS) of every GeoTIFF written; None: plain
            image grids without CRS.
        modality_georeference: Per-modality overrides of ``georeference``
            (misalignment tests).
    """
    assert issubclass(scene_cls, HSIScene)
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for modality, candidates in scene_cls.modality_files.items():
        bands = scene_cls.modality_bands[modality]
        shape = (modality_size or {}).get(modality, size)
        array = (rng.random(shape + (bands, )) * 1000 +
                 np.arange(bands) * 10).astype(np.float32)
        if bands == 1:
            array = array[..., 0]
        if modality == nan_in:
            array[0, 0] = np.nan
        arrays[modality] = array
        _write(root, candidates, array, fmt,
               (modality_georeference or {}).get(modality, georeference))
    gt, train, test = make_labels(rng, size, len(scene_cls.classes))
    if scene_cls.split_label_files:
        arrays.update(train=train, test=test)
        _write(root, scene_cls.split_label_files['train'], train, fmt,
               georeference)
        _write(root, scene_cls.split_label_files['test'], test, fmt,
               georeference)
    else:
        arrays.update(gt=gt)
        _write(root, scene_cls.gt_files, gt, fmt, georeference)
    return arrays


def reference_crop_windows(labeled: np.ndarray, crop: int, stride: int,
                           padding: int):
    """Slow reference of the crop protocol: walk the grid over the padded
    scene (continuing until a window reaches the far padded edge) and keep
    the windows holding a labeled pixel, as (y0, x0, h, w) in scene
    coordinates.
    """
    height, width = labeled.shape
    padded = np.zeros((height + 2 * padding + crop,
                       width + 2 * padding + crop), bool)
    padded[padding:padding + height, padding:padding + width] = labeled
    kept = []
    y = 0
    while True:
        x = 0
        while True:
            if padded[y:y + crop, x:x + crop].any():
                kept.append((y - padding, x - padding, crop, crop))
            if x + crop >= width + 2 * padding:
                break
            x += stride
        if y + crop >= height + 2 * padding:
            break
        y += stride
    return kept
