"""The multimodal convention's finiteness check (utils.modalities)."""
import pytest
import torch

from m3plugins.utils.modalities import (
    ModalityError,
    all_finite,
    split_modalities,
)


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16,
                                   torch.float64])
def test_all_finite_finds_one_bad_value(bad, dtype):
    x = torch.rand(2, 3, 5, 7, dtype=dtype)
    assert all_finite(x)
    x[1, 2, 4, 6] = bad
    assert not all_finite(x)
    assert not all_finite(x[1:, 2:])          # strided views too


def test_all_finite_huge_finite_values_overflowing_the_sum():
    x = torch.full((4, 4), 3e38)              # the float32 sum overflows
    assert not torch.isfinite(x.sum())
    assert all_finite(x)
    assert all_finite(torch.full((3, ), 60000.0, dtype=torch.float16))
    assert all_finite(torch.arange(5))        # integers are always finite


def test_split_modalities_names_the_modality_with_nan():
    x = torch.rand(1, 5, 4, 4)
    x[0, 4, 0, 0] = float('nan')
    with pytest.raises(ModalityError, match="'lidar'"):
        split_modalities(x, [('hsi', 4), ('lidar', 1)])
    parts = split_modalities(x, [('hsi', 4), ('lidar', 1)],
                             check_finite=False)
    assert parts['hsi'].shape == (1, 4, 4, 4)
