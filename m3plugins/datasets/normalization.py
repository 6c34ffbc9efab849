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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


def _chunk_statistics(flat: np.ndarray) -> BandStatistics:
    finite = np.isfinite(flat)
    count = finite.sum(axis=0)
    if finite.all():
        # Min / max exact in the input dtype; sums accumulated in float64;
        # deviations in float32 for float32 data (as exact as the data).
        work = np.float32 if flat.dtype == np.float32 else np.float64
        mean = flat.mean(axis=0, dtype=np.float64)
        dev = flat.astype(work, copy=False) - mean.astype(work)
        # Subtracting the deviations' own mean removes the rounding of
        # ``mean`` to the working dtype.
        shift = dev.mean(axis=0, dtype=np.float64)
        var = np.einsum('ij,ij->j', dev, dev, dtype=np.float64) / max(
            len(flat), 1) - shift**2
        var = np.maximum(var, 0)
        return BandStatistics(
            flat.min(0).astype(np.float64),
            flat.max(0).astype(np.float64), mean, np.sqrt(var), count)
    flat = flat.astype(np.float64)
    with warnings.catch_warnings():
        # All-NaN bands give NaN statistics, which is the right answer.
        warnings.simplefilter('ignore', RuntimeWarning)
        masked = np.where(finite, flat, np.nan)
        return BandStatistics(
            np.nanmin(masked, 0), np.nanmax(masked, 0),
            np.nanmean(masked, 0), np.nanstd(masked, 0), count)


def band_statistics(array: np.ndarray,
                    chunk_pixels: int = 1 << 14) -> BandStatistics:
    """Compute per-band min, max, mean, std over all pixels.

    Works through ``chunk_pixels`` pixels at a time (sums in float64), so a
    scene of any size needs only one chunk's worth of extra memory.

    Args:
        array: (H, W) or (H, W, C) array. Non-finite values are ignored.
        chunk_pixels: Pixels per chunk.

    Returns:
        BandStatistics: Arrays of shape (C,) (C = 1 for a 2-D input), float64.
    """
    hwc = _as_hwc(array)
    flat = hwc.reshape(-1, hwc.shape[-1])  # a view for (sliced) scenes
    return merge_band_statistics([
        _chunk_statistics(flat[start:start + chunk_pixels])
        for start in range(0, max(len(flat), 1), chunk_pixels)
    ])


def merge_band_statistics(parts: Sequence[BandStatistics]) -> BandStatistics:
    """Combine statistics computed over disjoint parts (e.g. tiles) of a scene.

    Uses the pairwise update of Chan et al. for mean and variance, which is
    stable for large offsets (e.g. elevations) with small spread.

    Args:
        parts: Statistics of the parts, all with the same band count.

    Returns:
        BandStatistics: Statistics of the union, equal (up to rounding) to
        :func:`band_statistics` over the whole.
    """
    if not parts:
        raise ValueError('No statistics to merge.')
    first = parts[0]
    count = first.count.astype(np.int64)
    mean = np.where(count > 0, first.mean, 0.0)
    m2 = np.where(count > 0, first.std**2 * count, 0.0)
    minimum, maximum = first.minimum.copy(), first.maximum.copy()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        for part in parts[1:]:
            n_b = part.count.astype(np.int64)
            total = count + n_b
            safe = np.maximum(total, 1)
            mean_b = np.where(n_b > 0, part.mean, 0.0)
            delta = mean_b - mean
            mean = mean + delta * n_b / safe
            m2 = m2 + np.where(n_b > 0, part.std**2 * n_b, 0.0) + \
                delta**2 * count * n_b / safe
            count = total
            minimum = np.fmin(minimum, part.minimum)
            maximum = np.fmax(maximum, part.maximum)
        empty = count == 0
        mean = np.where(empty, np.nan, mean)
        std = np.where(empty, np.nan, np.sqrt(m2 / np.maximum(count, 1)))
    return BandStatistics(minimum, maximum, mean, std, count)


def normalize(array: np.ndarray,
              method: str = 'minmax',
              stats: BandStatistics | None = None) -> np.ndarray:
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
        normalization: str | Mapping[str, str] | None,
        modalities: Sequence[str],
        default: str = 'minmax') -> dict[str, str]:
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
