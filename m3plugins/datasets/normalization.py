"""Per-band normalisation of a raster modality over a whole scene.

HSI + LiDAR/SAR papers (M3amba, arXiv 2503.06446; SpectralMamba, arXiv
2404.08489 and the works they compare with) scale each band of each modality
to [0, 1] with its minimum and maximum over the *whole scene* before cropping.
This module does that, and offers z-scoring and no scaling as options, with a
two-step API so that the statistics can be computed once (for instance over a
whole scene, or streamed over the tiles of a large one) and applied to any
window later:

    >>> stats = band_statistics(cube)              # per band, over the scene
    >>> window = normalize(cube[:32, :32], 'minmax', stats)

Datasets expose it as ``normalization=dict(hsi='minmax', lidar='minmax')`` (a
method per modality) or one method name for all; see
:func:`resolve_normalization`.

Methods (:data:`NORMALIZATION_METHODS`):

* ``'minmax'``: ``(x - min) / (max - min)`` per band; a constant band
  (max == min) becomes 0.
* ``'zscore'``: ``(x - mean) / std`` per band; a constant band becomes 0.
* ``'none'``: values unchanged (cast to float32).
"""
import warnings
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

__all__ = [
    'NORMALIZATION_METHODS', 'BandStatistics', 'band_statistics',
    'merge_band_statistics', 'normalize', 'resolve_normalization'
]

#: Accepted method names.
NORMALIZATION_METHODS = ('minmax', 'zscore', 'none')


@dataclass
class BandStatistics:
    """Per-band statistics of an (H, W, C) array, each of shape (C,).

    ``count`` is the number of finite values per band; mean and std are
    population statistics (ddof 0).
    """
    minimum: np.ndarray
    maximum: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    count: np.ndarray


def _as_hwc(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        return array[..., None]
    if array.ndim != 3:
        raise ValueError(
            f'Expected an (H, W) or (H, W, C) array, got shape {array.shape}.')
    return array


def band_statistics(array: np.ndarray) -> BandStatistics:
    """Compute per-band min, max, mean, std over all pixels.

    Args:
        array: (H, W) or (H, W, C) array. Non-finite values are ignored.

    Returns:
        BandStatistics: Arrays of shape (C,) (C = 1 for a 2-D input), float64.
    """
    hwc = _as_hwc(array)
    flat = hwc.reshape(-1, hwc.shape[-1]).astype(np.float64, copy=False)
    finite = np.isfinite(flat)
    count = finite.sum(axis=0)
    if finite.all():
        minimum, maximum = flat.min(axis=0), flat.max(axis=0)
        mean, std = flat.mean(axis=0), flat.std(axis=0)
    else:
        with warnings.catch_warnings():
            # All-NaN bands give NaN statistics, which is the right answer.
            warnings.simplefilter('ignore', RuntimeWarning)
            masked = np.where(finite, flat, np.nan)
            minimum, maximum = np.nanmin(masked, 0), np.nanmax(masked, 0)
            mean, std = np.nanmean(masked, 0), np.nanstd(masked, 0)
    return BandStatistics(minimum, maximum, mean, std, count)


def merge_band_statistics(parts: Sequence[BandStatistics]) -> BandStatistics:
    """Combine statistics computed over disjoint parts (e.g. tiles) of a scene.

    Args:
        parts: Statistics of the parts, all with the same band count.

    Returns:
        BandStatistics: Statistics of the union, equal (up to rounding) to
        :func:`band_statistics` over the whole.
    """
    if not parts:
        raise ValueError('No statistics to merge.')
    count = np.sum([p.count for p in parts], axis=0)
    weights = np.stack([p.count for p in parts]) / np.maximum(count, 1)
    mean = np.sum([w * p.mean for w, p in zip(weights, parts)], axis=0)
    second = np.sum(
        [w * (p.std**2 + p.mean**2) for w, p in zip(weights, parts)], axis=0)
    std = np.sqrt(np.maximum(second - mean**2, 0))
    return BandStatistics(
        np.min([p.minimum for p in parts], axis=0),
        np.max([p.maximum for p in parts], axis=0), mean, std, count)


def normalize(array: np.ndarray,
              method: str = 'minmax',
              stats: Optional[BandStatistics] = None) -> np.ndarray:
    """Normalise each band of ``array`` with ``method``.

    Args:
        array: (H, W) or (H, W, C) array.
        method: One of :data:`NORMALIZATION_METHODS`.
        stats: Per-band statistics to use (for instance of the whole scene
            when ``array`` is a window). Computed from ``array`` when omitted.

    Returns:
        np.ndarray: float32 array of the input's shape.

    Raises:
        ValueError: For an unknown method or statistics of another band count.
    """
    if method not in NORMALIZATION_METHODS:
        raise ValueError(f'Unknown normalization {method!r}; choose one of '
                         f'{NORMALIZATION_METHODS}.')
    shape = np.shape(array)
    hwc = _as_hwc(array).astype(np.float32, copy=method == 'none')
    if method == 'none':
        return hwc.reshape(shape)
    if stats is None:
        stats = band_statistics(hwc)
    if stats.minimum.shape[0] != hwc.shape[-1]:
        raise ValueError(
            f'Statistics are for {stats.minimum.shape[0]} bands but the array '
            f'has {hwc.shape[-1]}.')
    if method == 'minmax':
        offset, scale = stats.minimum, stats.maximum - stats.minimum
    else:
        offset, scale = stats.mean, stats.std
    # Constant bands (scale 0) map to 0 instead of dividing by zero.
    inverse = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
    out = (hwc - offset.astype(np.float32)) * inverse.astype(np.float32)
    return out.astype(np.float32, copy=False).reshape(shape)


def resolve_normalization(
        normalization: Union[str, Mapping[str, str], None],
        modalities: Sequence[str],
        default: str = 'minmax') -> Dict[str, str]:
    """Turn a dataset's ``normalization`` argument into a method per modality.

    Args:
        normalization: One method for every modality, a mapping modality ->
            method (modalities left out get ``default``), or None (``default``
            for all).
        modalities: The modalities in use.
        default: Method for modalities not named.

    Returns:
        dict[str, str]: Modality -> method, in the order of ``modalities``.

    Raises:
        ValueError: For an unknown method, or a mapping naming a modality not
            in use.
    """
    if normalization is None or isinstance(normalization, str):
        methods = {m: normalization or default for m in modalities}
    else:
        unknown = set(normalization) - set(modalities)
        if unknown:
            raise ValueError(
                f'normalization names modalities {sorted(unknown)} that are '
                f'not in use; modalities are {list(modalities)}.')
        methods = {m: normalization.get(m, default) for m in modalities}
    for modality, method in methods.items():
        if method not in NORMALIZATION_METHODS:
            raise ValueError(
                f'Unknown normalization {method!r} for modality '
                f'{modality!r}; choose one of {NORMALIZATION_METHODS}.')
    return methods
