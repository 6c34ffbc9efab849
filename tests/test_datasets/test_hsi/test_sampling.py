"""Seeded per-class split sampling."""
import numpy as np
import pytest

from m3plugins.datasets.hsi.sampling import per_class_counts, sample_per_class


@pytest.fixture
def gt():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 4, size=(30, 40)).astype(np.uint8)
    gt[gt == 3] = 0
    gt[0, :5] = 3  # class 3: only 5 pixels
    return gt


def test_counts_disjoint_and_complete(gt):
    train, test = sample_per_class(gt, 3, 10, seed=0)
    assert per_class_counts(train, 3).tolist() == [10, 10, 2]  # 5 // 2
    assert not ((train > 0) & (test > 0)).any()
    np.testing.assert_array_equal(np.maximum(train, test), gt)
    assert train.dtype == gt.dtype


def test_reproducible_and_seed_dependent(gt):
    a = sample_per_class(gt, 3, 10, seed=3)[0]
    b = sample_per_class(gt, 3, 10, seed=3)[0]
    c = sample_per_class(gt, 3, 10, seed=4)[0]
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_fraction_and_per_class_list(gt):
    counts = per_class_counts(gt, 3)
    train, _ = sample_per_class(gt, 3, 0.1, seed=0)
    assert per_class_counts(train, 3).tolist() == [
        int(round(0.1 * counts[0])), int(round(0.1 * counts[1])), 1]
    train, _ = sample_per_class(gt, 3, [1, 2, 3], seed=0)
    assert per_class_counts(train, 3).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match='2 entries for 3 classes'):
        sample_per_class(gt, 3, [1, 2])
    with pytest.raises(ValueError, match=r'\(0, 1\)'):
        sample_per_class(gt, 3, 1.5)
    with pytest.raises(ValueError, match='at least one'):
        sample_per_class(gt, 3, 0)
