"""Per-band normalisation API shared by the scene datasets and tools."""
import numpy as np
import pytest

from m3plugins.datasets.normalization import (
    band_statistics,
    merge_band_statistics,
    normalize,
    resolve_normalization,
)


@pytest.fixture
def cube():
    rng = np.random.default_rng(0)
    return (rng.random((6, 7, 4)) * [1, 10, 100, 1000] + [0, -5, 3, 7])


def test_minmax_per_band_range(cube):
    out = normalize(cube, 'minmax')
    assert out.dtype == np.float32 and out.shape == cube.shape
    np.testing.assert_allclose(out.min(axis=(0, 1)), 0, atol=1e-6)
    np.testing.assert_allclose(out.max(axis=(0, 1)), 1, atol=1e-6)


def test_zscore_and_none(cube):
    z = normalize(cube, 'zscore')
    np.testing.assert_allclose(z.mean(axis=(0, 1)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 1)), 1, atol=1e-4)
    np.testing.assert_allclose(normalize(cube, 'none'), cube, rtol=1e-6)


def test_constant_band_becomes_zero_and_2d_input(cube):
    cube[..., 2] = 5.0
    assert np.all(normalize(cube, 'minmax')[..., 2] == 0)
    assert np.all(normalize(cube, 'zscore')[..., 2] == 0)
    flat = normalize(cube[..., 0], 'minmax')
    assert flat.shape == (6, 7) and flat.max() == pytest.approx(1)


def test_scene_statistics_applied_to_a_window(cube):
    stats = band_statistics(cube)
    window = normalize(cube[:2, :3], 'minmax', stats)
    np.testing.assert_allclose(window, normalize(cube, 'minmax')[:2, :3],
                               atol=1e-6)
    with pytest.raises(ValueError, match='4 bands but the array has 2'):
        normalize(cube[..., :2], 'minmax', stats)


def test_merged_tile_statistics_equal_whole(cube):
    whole = band_statistics(cube)
    merged = merge_band_statistics(
        [band_statistics(cube[:2]), band_statistics(cube[2:])])
    for name in ('minimum', 'maximum', 'mean', 'std', 'count'):
        np.testing.assert_allclose(getattr(merged, name),
                                   getattr(whole, name), rtol=1e-9)


def test_nan_ignored_in_statistics(cube):
    cube[0, 0, 1] = np.nan
    stats = band_statistics(cube)
    assert stats.count.tolist() == [42, 41, 42, 42]
    assert np.isfinite(stats.minimum).all()


def test_resolve_normalization():
    assert resolve_normalization(None, ('hsi', 'lidar')) == dict(
        hsi='minmax', lidar='minmax')
    assert resolve_normalization('zscore', ('hsi', )) == dict(hsi='zscore')
    assert resolve_normalization(dict(lidar='none'), ('hsi', 'lidar')) == \
        dict(hsi='minmax', lidar='none')
    with pytest.raises(ValueError, match="'sar'"):
        resolve_normalization(dict(sar='minmax'), ('hsi', ))
    with pytest.raises(ValueError, match="Unknown normalization 'max'"):
        resolve_normalization(dict(hsi='max'), ('hsi', ))
    with pytest.raises(ValueError, match='Unknown normalization'):
        normalize(np.zeros((2, 2)), 'l2')


def test_chunked_statistics_are_stable_and_exact():
    rng = np.random.default_rng(2)
    # Elevation-like band: large offset, small spread; float32 like a scene.
    data = np.stack([1000 + 0.01 * rng.standard_normal((50, 40)),
                     rng.random((50, 40))], axis=-1).astype(np.float32)
    chunked = band_statistics(data, chunk_pixels=7)
    exact = data.reshape(-1, 2).astype(np.float64)
    np.testing.assert_allclose(chunked.mean, exact.mean(0), rtol=1e-12)
    np.testing.assert_allclose(chunked.std, exact.std(0), rtol=1e-6)
    np.testing.assert_array_equal(chunked.minimum, exact.min(0))
    np.testing.assert_array_equal(chunked.maximum, exact.max(0))
    assert chunked.count.tolist() == [2000, 2000]


def test_all_nan_band_gives_nan_statistics():
    data = np.ones((4, 4, 2))
    data[..., 1] = np.nan
    stats = band_statistics(data, chunk_pixels=3)
    assert stats.count.tolist() == [16, 0]
    assert np.isnan(stats.mean[1]) and np.isnan(stats.minimum[1])
    assert stats.mean[0] == 1 and stats.std[0] == 0
