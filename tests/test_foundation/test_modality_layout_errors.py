"""Band-count errors name the modality and both counts, not stacked totals."""
import pytest
import torch

from m3plugins.utils.modalities import (ModalityError, check_modality_layout,
                                        modality_layout_mismatch,
                                        split_modalities)

MODEL = dict(hsi=144, lidar=1)


def test_one_band_short_names_the_modality_and_both_counts():
    assert modality_layout_mismatch(dict(hsi=143, lidar=1), MODEL) == (
        'hsi has 143 bands, the model expects 144 (modality layout '
        'hsi=144, lidar=1; total 144 vs 145)')


def test_layouts_that_agree_pass():
    assert modality_layout_mismatch(dict(hsi=144, lidar=1), MODEL) is None
    check_modality_layout([('hsi', 144), ('lidar', 1)], MODEL)


@pytest.mark.parametrize('found, match', [
    (dict(hsi=144, sar=1), r"missing \['lidar'\], unexpected \['sar'\]"),
    (dict(lidar=1, hsi=144), r"in the order \['lidar', 'hsi'\]"),
    (dict(hsi=143, lidar=2),
     'hsi has 143 bands, the model expects 144; lidar has 2 bands, the '
     'model expects 1'),
])
def test_other_disagreements_are_named(found, match):
    with pytest.raises(ModalityError, match=match):
        check_modality_layout(found, MODEL, where=' (dataset X)')


def test_split_with_the_data_layout_reports_per_modality():
    inputs = torch.zeros(1, 144, 2, 2)
    with pytest.raises(ModalityError,
                       match=r'^hsi has 143 bands, the model expects 144 '
                       r'\(modality layout hsi=144, lidar=1; total 144 vs '
                       r'145\)'):
        split_modalities(inputs, MODEL, data_layout=dict(hsi=143, lidar=1))
    with pytest.raises(ModalityError, match='its data layout says 145'):
        split_modalities(inputs, MODEL, data_layout=MODEL)
    parts = split_modalities(torch.zeros(1, 145, 2, 2), MODEL,
                             data_layout=MODEL)
    assert [p.shape[1] for p in parts.values()] == [144, 1]


def test_split_without_the_data_layout_states_the_expected_layout():
    with pytest.raises(ModalityError,
                       match=r'Input has 144 channels but the model expects '
                       r'145 channels \(hsi 144 \+ lidar 1\)'):
        split_modalities(torch.zeros(1, 144, 2, 2), MODEL)
