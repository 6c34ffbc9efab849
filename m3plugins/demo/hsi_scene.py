"""A small deterministic HSI + LiDAR scene in Houston2013's on-disk format.

:func:`make_demo_hsi_scene` writes, from a seed and without any download, a
96 x 160 scene with 144 bands and 7 classes, as the four MATLAB v5 files of
the Houston2013 layout (``HSI.mat``, ``LiDAR.mat``, ``TRLabel.mat``,
``TSLabel.mat``), so ``Houston2013(root)`` reads it through the real reader
path. It is meant for demos, smoke tests and CPU tutorials: a tiny model
trains to clearly better-than-chance accuracy on it within a minute or two.

How the scene is made (all from ``numpy.random.default_rng(seed)``), so that
neither modality alone suffices and fusion pays off:

* Class regions: a Voronoi partition of 2 seeds per class under a smooth
  random warp, so regions are spatially coherent with irregular borders.
* HSI: four spectral groups, each with two smooth "endmember" spectra over
  380-1050 nm (a sloped baseline plus three Gaussian features). Classes map
  to groups as (0, 1, 2, 0, 3, 1, 2): classes 1/4, 2/6 and 3/7 share their
  endmembers and differ only in the mean abundance of the mix (0.42 vs
  0.58, with a spatially smooth spread of up to +-0.5), so the HSI alone
  confuses them. Each pixel is scaled by a smooth illumination field
  (0.85-1.15) and gets white noise (sigma 0.02). Reflectance-like values,
  float32.
* LiDAR: heights (0, 0, 0, 6, 6, 15, 15) m per class plus smooth (1 m) and
  white (0.3 m) noise: the LiDAR alone only tells three height levels, and
  classes of one level are spectrally distinct.
  (Nearest class mean on the training pixels, seed 0: HSI alone 62 % OA,
  LiDAR alone 47 %, both 94 %; chance is 14 %.)
* Labels (0 = unlabeled): pixels within 2 pixels of a region border and a few
  random blocks are unlabeled. ``TRLabel``: 20 random pixels per class.
  ``TSLabel``: every other labeled pixel (disjoint from the training set).
"""
import os
import os.path as osp

import numpy as np
from scipy import ndimage
from scipy.io import savemat

from .demo_folder import (
    DemoFolderWriter,
    demo_files_are_current,
    log_demo_reuse,
)

__all__ = ['make_demo_hsi_scene', 'DEMO_SCENE_SHAPE', 'DEMO_NUM_CLASSES']

DEMO_SCENE_SHAPE = (96, 160)
DEMO_BANDS = 144
DEMO_NUM_CLASSES = 7
DEMO_TRAIN_PER_CLASS = 20
_FILES = ('HSI.mat', 'LiDAR.mat', 'TRLabel.mat', 'TSLabel.mat')
_GENERATOR = 'm3plugins.demo.make_demo_hsi_scene'
_VERSION = 2
# Per class: spectral group, mean abundance of the group's first endmember,
# LiDAR height (m). See the module docstring.
_SPECTRAL_GROUP = (0, 1, 2, 0, 3, 1, 2)
_ABUNDANCE = (0.42, 0.42, 0.42, 0.58, 0.5, 0.58, 0.58)
_HEIGHTS = (0.0, 0.0, 0.0, 6.0, 6.0, 15.0, 15.0)


def _smooth_field(rng, shape, sigma) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (np.abs(field).max() + 1e-12)


def _class_regions(rng, shape, num_classes) -> np.ndarray:
    height, width = shape
    seeds = rng.uniform([0, 0], [height, width], size=(2 * num_classes, 2))
    seed_class = np.repeat(np.arange(num_classes), 2)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    # A smooth warp makes the region borders irregular.
    yy = yy + 8 * _smooth_field(rng, shape, 10)
    xx = xx + 8 * _smooth_field(rng, shape, 10)
    dist = (yy[None] - seeds[:, 0, None, None])**2 + \
        (xx[None] - seeds[:, 1, None, None])**2
    return seed_class[np.argmin(dist, axis=0)] + 1


def _spectra(rng, groups, bands) -> np.ndarray:
    wavelengths = np.linspace(380, 1050, bands)
    t = (wavelengths - 380) / 670
    spectra = np.empty((groups, 2, bands))
    for g in range(groups):
        for e in range(2):
            curve = rng.uniform(0.15, 0.35) + rng.uniform(-0.15, 0.25) * t
            for _ in range(3):
                centre = rng.uniform(420, 1000)
                width = rng.uniform(25, 90)
                curve = curve + rng.uniform(-0.15, 0.2) * np.exp(
                    -0.5 * ((wavelengths - centre) / width)**2)
            spectra[g, e] = np.clip(curve, 0.02, None)
    return spectra


def _build(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape, k = DEMO_SCENE_SHAPE, DEMO_NUM_CLASSES
    regions = _class_regions(rng, shape, k)
    spectra = _spectra(rng, max(_SPECTRAL_GROUP) + 1, DEMO_BANDS)

    group = np.asarray(_SPECTRAL_GROUP)[regions - 1]
    abundance = np.clip(
        np.asarray(_ABUNDANCE)[regions - 1] +
        0.5 * _smooth_field(rng, shape, 4), 0, 1)
    mixed = (abundance[..., None] * spectra[group, 0] +
             (1 - abundance[..., None]) * spectra[group, 1])
    illumination = 1.0 + 0.15 * _smooth_field(rng, shape, 12)
    hsi = mixed * illumination[..., None] + 0.02 * rng.standard_normal(
        shape + (DEMO_BANDS, ))

    lidar = np.asarray(_HEIGHTS)[regions - 1] + \
        _smooth_field(rng, shape, 6) + 0.3 * rng.standard_normal(shape)

    # Unlabeled: borders between regions and a few random blocks.
    border = np.zeros(shape, bool)
    border[:-1] |= regions[:-1] != regions[1:]
    border[:, :-1] |= regions[:, :-1] != regions[:, 1:]
    border = ndimage.binary_dilation(border, iterations=2)
    gt = np.where(border, 0, regions)
    for _ in range(6):
        y, x = rng.integers(0, shape[0] - 12), rng.integers(0, shape[1] - 12)
        gt[y:y + 12, x:x + 12] = 0

    train = np.zeros(shape, np.uint8)
    for c in range(1, k + 1):
        pixels = np.flatnonzero(gt == c)
        chosen = rng.choice(pixels, DEMO_TRAIN_PER_CLASS, replace=False)
        train.flat[chosen] = c
    test = np.where(train > 0, 0, gt).astype(np.uint8)
    return dict(
        HSI=hsi.astype(np.float32),
        LiDAR=lidar.astype(np.float32),
        TRLabel=train,
        TSLabel=test)


def make_demo_hsi_scene(root: str, seed: int = 0) -> str:
    """Write the demo scene into ``root`` (skipped if already there, valid).

    ``root`` must not exist, be empty, or hold this generator's manifest
    (see :mod:`m3plugins.demo.demo_folder`): a folder with anyone else's
    files, e.g. a real Houston2013 ``HSI.mat``, is refused before anything is
    written. The absolute folder is logged.

    Args:
        root: Folder to write ``HSI.mat`` (96 x 160 x 144 float32, key
            ``HSI``), ``LiDAR.mat`` (96 x 160 float32, key ``LiDAR``),
            ``TRLabel.mat`` / ``TSLabel.mat`` (96 x 160 uint8, 0 = unlabeled,
            classes 1..7) and ``demo_manifest.json`` (generator, seed, md5 of
            each file).
        seed: Seed of everything random; the same seed gives the same arrays.

    Returns:
        str: ``root``, ready for ``Houston2013(root)``. The demo's 7 classes
        are labels 1..7 of Houston2013's 15 (their names are Houston's).

    Raises:
        DemoFolderNotEmptyError: If ``root`` holds files this generator did
            not write (they are named; nothing is touched).
    """
    root = os.fspath(root)
    settings = dict(version=_VERSION, seed=seed)
    description = f'the HSI + LiDAR demo scene (seed {seed})'
    if demo_files_are_current(root, _GENERATOR, settings, _FILES):
        log_demo_reuse(root, description)
        return root
    writer = DemoFolderWriter(root, _GENERATOR, settings, _FILES,
                              description)
    arrays = _build(seed)
    for name in _FILES:
        key = osp.splitext(name)[0]
        writer.write(name,
                     lambda path, key=key: savemat(path, {key: arrays[key]}))
    writer.finish()
    return root
