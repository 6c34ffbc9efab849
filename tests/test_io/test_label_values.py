"""check_integer_labels: NaN, Inf and fractions in label maps are named."""
import numpy as np
import pytest

from m3plugins.io.label_values import LabelValueError, check_integer_labels
from m3plugins.utils.user_errors import describe_user_error


def test_whole_numbers_pass_in_any_dtype():
    check_integer_labels(np.array([[0, 3]], np.uint8), 'gt.tif', 'labels')
    check_integer_labels(np.array([[0.0, 3.0]], np.float32), 'gt.mat',
                         'ground truth')


@pytest.mark.parametrize('value, name', [(np.nan, 'NaN'), (np.inf, 'Inf'),
                                         (-np.inf, 'Inf')])
def test_nan_and_inf_are_named(value, name):
    labels = np.zeros((3, 4), np.float64)
    labels[1, 2] = value
    labels[2, 0] = value
    with pytest.raises(LabelValueError,
                       match=rf'The train labels map TR\.mat contains {name} '
                       r'at 2 pixel\(s\) \(first at row 1, column 2\)\. '
                       'Labels must be integer class indices') as info:
        check_integer_labels(labels, 'TR.mat', 'train labels')
    assert 'non-integer' not in str(info.value)
    assert describe_user_error(info.value).startswith('Bad label values.')


def test_nan_and_fractions_together():
    labels = np.array([[np.nan, 1.5], [2.0, 0.0]], np.float32)
    with pytest.raises(LabelValueError,
                       match=r'contains NaN at 1 pixel\(s\) .*; holds '
                       r'non-integer values at 1 pixel\(s\) \(first 1\.5 '
                       r'at row 0, column 1\)'):
        check_integer_labels(labels, 'gt.tif', 'ground truth')
