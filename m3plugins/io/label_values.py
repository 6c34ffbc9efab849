"""Label maps hold integer class indices: NaN, Inf and fractions named.

Label maps stored as floating point (``.mat`` ground truth, float GeoTIFFs)
are accepted when every value is a whole number. A NaN or an infinity is
named as such, with how many pixels hold it and where the first one lies,
so that the user looks for a no-data fill or a resampling step instead of
a wrong file type.
"""
import numpy as np

__all__ = ['LabelValueError', 'check_integer_labels']


class LabelValueError(ValueError):
    """A label map holds values that are not integer class indices."""


def _first_pixel(mask: np.ndarray) -> str:
    """``row R, column C`` of the first True pixel of a 2-D mask."""
    row, col = np.argwhere(mask)[0][:2]
    return f'row {int(row)}, column {int(col)}'


def check_integer_labels(labels: np.ndarray, path: str, what: str) -> None:
    """Refuse label values that are not whole numbers.

    Args:
        labels: The label map as read (any dtype; integer dtypes pass).
        path: Its file, for the message.
        what: Which map it is (``'train labels'``, ``'ground truth'``).

    Raises:
        LabelValueError: Naming the file, the map, and whether it contains
            NaN, Inf or fractional values (count and first pixel).
    """
    if not np.issubdtype(labels.dtype, np.floating):
        return
    problems = []
    for name, mask in (('NaN', np.isnan(labels)),
                       ('Inf', np.isinf(labels))):
        if mask.any():
            problems.append(f'contains {name} at {int(mask.sum())} pixel(s) '
                            f'(first at {_first_pixel(mask)})')
    finite = np.isfinite(labels)
    fractional = finite & (labels != np.round(np.where(finite, labels, 0)))
    if fractional.any():
        problems.append(f'holds non-integer values at '
                        f'{int(fractional.sum())} pixel(s) (first '
                        f'{float(labels[fractional][0])!r} at '
                        f'{_first_pixel(fractional)})')
    if problems:
        raise LabelValueError(
            f'The {what} map {path} {"; ".join(problems)}. Labels must be '
            'integer class indices (0 = unlabeled): fill no-data pixels with '
            '0 and resample label maps with nearest neighbour.')
