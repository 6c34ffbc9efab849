"""Seeded per-class sampling of a train/test split from a ground-truth map.

Several hyperspectral benchmarks (MUUFL Gulfport, Botswana, WHU-Hi-LongKou,
Indian Pines, Pavia University) ship one ground-truth map and no standard
train/test split; papers draw a fixed number (or fraction) of training pixels
per class at random and test on the rest. :func:`sample_per_class` does this
reproducibly: the same map, counts and seed always give the same split, on
every platform (NumPy's ``PCG64`` generator).
"""
from collections.abc import Sequence

import numpy as np

__all__ = ['sample_per_class', 'per_class_counts']

TrainPerClass = int | float | Sequence[int]


def per_class_counts(label_map: np.ndarray, num_classes: int) -> np.ndarray:
    """Labeled pixels per class of a 0 = unlabeled, 1..K map.

    Args:
        label_map: (H, W) integer map.
        num_classes: K.

    Returns:
        np.ndarray: (K,) int64 counts for classes 1..K.
    """
    counts = np.bincount(
        np.asarray(label_map, dtype=np.int64).ravel(),
        minlength=num_classes + 1)
    return counts[1:num_classes + 1]


def _wanted(train_per_class: TrainPerClass, k: int, available: int) -> int:
    if isinstance(train_per_class, float):
        if not 0 < train_per_class < 1:
            raise ValueError('A fractional train_per_class must lie in '
                             f'(0, 1), got {train_per_class}.')
        # At least one pixel, so small classes are not left out.
        wanted = max(1, int(round(train_per_class * available)))
    elif isinstance(train_per_class, (int, np.integer)):
        wanted = int(train_per_class)
    else:
        wanted = int(train_per_class[k])
    if wanted < 1:
        raise ValueError(f'train_per_class must give at least one pixel per '
                         f'class, got {wanted} for class {k + 1}.')
    # A class too small for the request gives half of its pixels (at least
    # one) so that it keeps test pixels.
    if wanted >= available:
        wanted = max(1, available // 2)
    return wanted


def sample_per_class(gt: np.ndarray,
                     num_classes: int,
                     train_per_class: TrainPerClass,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw a reproducible per-class train/test split.

    For each class k = 1..K in order, a generator seeded with ``seed`` draws
    a random permutation of the class's pixels (row-major order) and takes the
    first n as training pixels; every other labeled pixel is a test pixel.

    Args:
        gt: (H, W) ground truth, 0 = unlabeled, 1..K classes.
        num_classes: K.
        train_per_class: Training pixels per class: an int (same for all), a
            float in (0, 1) (fraction of each class, rounded, at least one),
            or a sequence of K ints. A class with no more pixels than asked
            gives half of them (at least one), so it keeps test pixels.
        seed: Seed of the generator.

    Returns:
        tuple[np.ndarray, np.ndarray]: (train map, test map), each (H, W)
        like ``gt`` (same dtype), disjoint, their union equal to ``gt``.

    Raises:
        ValueError: For a count below one or a sequence of the wrong length.
    """
    gt = np.asarray(gt)
    if not isinstance(train_per_class, (int, float, np.integer)) and \
            len(train_per_class) != num_classes:
        raise ValueError(
            f'train_per_class has {len(train_per_class)} entries for '
            f'{num_classes} classes.')
    rng = np.random.default_rng(seed)
    flat = gt.ravel()
    train = np.zeros_like(flat)
    for k in range(num_classes):
        pixels = np.flatnonzero(flat == k + 1)
        if pixels.size == 0:
            continue
        chosen = rng.permutation(pixels)[:_wanted(train_per_class, k,
                                                  pixels.size)]
        train[chosen] = k + 1
    train = train.reshape(gt.shape)
    test = np.where(train > 0, 0, gt).astype(gt.dtype)
    return train, test
