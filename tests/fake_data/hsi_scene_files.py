"""The one fake-data generator of the HSI family: scene files, real formats.

Like TorchGeo's ``tests/data/*/data.py``, but run at test time into
``tmp_path``: MATLAB v5 (scipy), MATLAB v7.3 (HDF5 with MATLAB's 512-byte
header and column-major layout, via h5py), GeoTIFF
(:func:`m3plugins.io.write_geotiff`) and ``.npy``.

* :func:`write_scene` writes every file a scene class accepts first (or its
  GeoTIFF form) with the real band counts, a small spatial size and random
  values; its GeoTIFFs are plain image grids unless given a georeference
  (transform and CRS).
* :func:`write_scene_arrays` writes given arrays (a test's own class
  structure) into the same files.
* :func:`write_learnable_houston2013` writes a tiny Houston2013 whose three
  classes a model can learn in a few steps (class-dependent spectra and
  LiDAR heights).
"""
import os
import os.path as osp
from typing import Any

import h5py
import numpy as np
from rasterio import Affine
from scipy.io import savemat

from m3plugins.datasets.hsi import HSIScene
from m3plugins.io import write_geotiff

SMALL_SIZE = (12, 20)


def write_mat_v5(path: str, arrays: dict[str, np.ndarray]) -> str:
    savemat(path, arrays)
    return path


def write_mat_v73(path: str, arrays: dict[str, np.ndarray]) -> str:
    """Write a MATLAB v7.3 file as MATLAB does.

    HDF5 behind a 512-byte text header, arrays stored column-major (h5py
    sees the axes reversed).
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


def write_scene_geotiff(path: str, array: np.ndarray,
                        georeference: Georef | None = None) -> str:
    """Write (H, W[, C]) as a scene GeoTIFF.

    Without ``georeference`` it has a pixel-unit transform and no CRS (not
    georeferenced).
    """
    transform, crs = georeference or (Affine(1.0, 0.0, 0.0, 0.0, -1.0,
                                             float(array.shape[0])), None)
    return write_geotiff(path, array, transform=transform, crs=crs)


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
        return write_scene_geotiff(path, array, georeference)
    key = _first_key(key) or osp.splitext(filename)[0]
    writer = write_mat_v73 if fmt == 'mat73' else write_mat_v5
    return writer(path, {key: array})


def make_labels(rng, size: tuple[int, int], num_classes: int):
    """Draw a ground truth and a train/test split of it.

    Every class has >= 4 pixels, about 1/3 is unlabeled, and the split has
    >= 1 train pixel per class.
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
        root: Output folder.
        scene_cls: An :class:`HSIScene` subclass: its files and bands.
        size: (H, W) of the scene.
        fmt: 'mat5', 'mat73' or 'tif' (GeoTIFF where the scene accepts it,
            MATLAB v5 otherwise).
        modality_size: Per-modality spatial size overrides (mismatch tests).
        nan_in: Modality whose first pixel becomes NaN.
        georeference: (transform, CRS) of every GeoTIFF written; None: plain
            image grids without CRS.
        modality_georeference: Per-modality overrides of ``georeference``
            (misalignment tests).
        seed: Seed of the random values.

    Returns:
        dict[str, np.ndarray]: Modality (and ``train`` / ``test`` or
        ``gt``) -> the array written.
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


def write_scene_arrays(root: str, scene_cls: type,
                       arrays: dict[str, np.ndarray],
                       fmt: str = 'mat5',
                       georeference: Georef | None = None) -> None:
    """Write given arrays into the files of ``scene_cls`` in ``root``.

    Args:
        root: Output folder (created).
        scene_cls: An :class:`HSIScene` subclass: its file names and keys.
        arrays: Modality -> (H, W[, C]) array, plus ``train`` and ``test``
            label maps (scenes with a standard split) or ``gt``.
        fmt: 'mat5', 'mat73' or 'tif' (as :func:`write_scene`).
        georeference: (transform, CRS) of every GeoTIFF written; None:
            plain image grids.
    """
    assert issubclass(scene_cls, HSIScene)
    os.makedirs(root, exist_ok=True)
    for modality, array in arrays.items():
        if modality in scene_cls.modality_files:
            candidates = scene_cls.modality_files[modality]
        elif modality in ('train', 'test'):
            candidates = scene_cls.split_label_files[modality]
        elif modality == 'gt':
            candidates = scene_cls.gt_files
        else:
            raise KeyError(f'{scene_cls.__name__} has no file for '
                           f'{modality!r}.')
        _write(root, candidates, array, fmt, georeference)


def write_learnable_houston2013(root: str, height: int = 24,
                                width: int = 36, bands: int = 12,
                                seed: int = 0,
                                test_per_class: int = 34) -> np.ndarray:
    """A tiny, learnable scene in Houston2013's files (MATLAB v5, real keys).

    Classes 1-3 fill three vertical bands of the scene; each has its own
    spectrum (plus noise) and LiDAR height. 6 pixels per class are in the
    training map and ``test_per_class`` others in the test map.

    Args:
        root: Output folder (created).
        height: Scene rows H.
        width: Scene columns W.
        bands: HSI bands (give the scene ``band_counts=dict(hsi=bands)``).
        seed: Seed of the spectra, noise and sampled pixels.
        test_per_class: Test pixels per class.

    Returns:
        np.ndarray: The (H, W) uint8 test label map written.
    """
    from m3plugins.datasets.hsi import Houston2013
    rng = np.random.default_rng(seed)
    classes = (np.arange(width)[None] * 3 // width + 1).repeat(height, 0)
    signatures = rng.uniform(0.1, 1.0, (4, bands))
    hsi = signatures[classes] + 0.05 * rng.standard_normal(
        (height, width, bands))
    lidar = classes * 3.0 + rng.standard_normal((height, width))
    train = np.zeros((height, width), np.uint8)
    test = np.zeros((height, width), np.uint8)
    for k in (1, 2, 3):
        ys, xs = np.nonzero(classes == k)
        order = rng.permutation(ys.size)
        train[ys[order[:6]], xs[order[:6]]] = k
        chosen = order[6:6 + test_per_class]
        test[ys[chosen], xs[chosen]] = k
    write_scene_arrays(root, Houston2013, dict(
        hsi=hsi.astype(np.float32), lidar=lidar.astype(np.float32),
        train=train, test=test))
    return test


def reference_crop_windows(labeled: np.ndarray, crop: int, stride: int,
                           padding: int):
    """Slow reference of the crop protocol.

    Walk the grid over the padded scene (continuing until a window reaches
    the far padded edge) and keep the windows holding a labeled pixel, as
    (y0, x0, h, w) in scene coordinates.
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
