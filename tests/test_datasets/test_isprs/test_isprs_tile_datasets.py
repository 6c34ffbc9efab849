"""TorchGeo-style ISPRS Potsdam / Vaihingen on fake roots, real layouts."""
import os
import shutil

import numpy as np
import pytest
from fake_data.isprs_tiles import FAKE_SIZE, write_tile_raster
from rasterio.windows import Window
from torchgeo.datasets import DatasetNotFoundError

from m3plugins.datasets.isprs import (
    IGNORE_INDEX,
    POTSDAM_SPLITS,
    VAIHINGEN_SPLITS,
    ISPRSPotsdam,
    ISPRSTileError,
    ISPRSVaihingen,
    colour_labels_to_indices,
    dsm_statistics,
    indices_to_colour_labels,
)
from m3plugins.io import MissingDataError

# The ISPRS benchmark splits, written out independently of TorchGeo's lists.
POTSDAM_TRAIN = ('2_10 2_11 2_12 3_10 3_11 3_12 4_10 4_11 4_12 5_10 5_11 '
                 '5_12 6_7 6_8 6_9 6_10 6_11 6_12 7_7 7_8 7_9 7_10 7_11 '
                 '7_12').split()
POTSDAM_TEST = ('2_13 2_14 3_13 3_14 4_13 4_14 4_15 5_13 5_14 5_15 6_13 6_14 '
                '6_15 7_13').split()
VAIHINGEN_TRAIN = [1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37]
VAIHINGEN_TEST = [2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35,
                  38]


def minmax(dsm):
    return (dsm - dsm.min()) / (dsm.max() - dsm.min())


def copy_root(src, dst):
    shutil.copytree(src, dst)
    return str(dst)


def test_splits_match_design():
    assert sorted(POTSDAM_SPLITS['train']) == sorted(POTSDAM_TRAIN)
    assert sorted(POTSDAM_SPLITS['test']) == sorted(POTSDAM_TEST)
    assert len(POTSDAM_SPLITS['train_mobanet']) == 23
    assert set(POTSDAM_SPLITS['train']) - set(
        POTSDAM_SPLITS['train_mobanet']) == {'7_10'}
    assert [int(a) for a in VAIHINGEN_SPLITS['train']] == VAIHINGEN_TRAIN
    assert [int(a) for a in VAIHINGEN_SPLITS['test']] == VAIHINGEN_TEST


@pytest.mark.parametrize('optical,bands', [('RGB', [0, 1, 2]),
                                           ('IRRG', [3, 0, 1]),
                                           ('RGBIR', [0, 1, 2, 3])])
def test_potsdam_optical_variants_and_dsm(potsdam_root, optical, bands):
    root, scenes = potsdam_root
    ds = ISPRSPotsdam(root, tiles=['2_10', '6_7'], optical=optical)
    assert len(ds) == 2
    assert ds.modality_channels == {'optical': len(bands), 'dsm': 1}
    sample = ds[1]
    scene = scenes['6_7']
    assert sample['image'].shape == (len(bands) + 1, ) + FAKE_SIZE
    assert sample['image'].dtype.is_floating_point
    np.testing.assert_array_equal(sample['image'][:-1].numpy(),
                                  scene['rgbir'][bands].astype(np.float32))
    np.testing.assert_allclose(sample['image'][-1].numpy(),
                               minmax(scene['dsm'][0].astype(np.float64)),
                               atol=1e-6)
    # The DSM of tile 6_7 is dsm_potsdam_06_07.tif (zero-padded).
    assert ds.files[1].dsm.endswith(os.path.join('1_DSM',
                                                 'dsm_potsdam_06_07.tif'))


def test_dsm_zscore_option(potsdam_root):
    root, scenes = potsdam_root
    ds = ISPRSPotsdam(root, tiles=['2_10'], dsm_normalization='zscore')
    dsm = ds[0]['image'][-1].numpy()
    assert abs(dsm.mean()) < 1e-4 and abs(dsm.std() - 1) < 1e-3


def test_labels_full_and_no_boundary(potsdam_root):
    root, scenes = potsdam_root
    full = ISPRSPotsdam(root, tiles=['2_10'], label_kind='full')[0]['mask']
    eroded = ISPRSPotsdam(root, tiles=['2_10'])[0]['mask']
    np.testing.assert_array_equal(full.numpy(), scenes['2_10']['labels'])
    np.testing.assert_array_equal(eroded.numpy(), scenes['2_10']['eroded'])
    assert (eroded == IGNORE_INDEX).any() and not (full == IGNORE_INDEX).any()


def test_colour_mapping_by_hand():
    rgb = np.array([[[255, 255, 255], [0, 0, 255], [0, 255, 255]],
                    [[0, 255, 0], [255, 255, 0], [255, 0, 0]],
                    [[0, 0, 0], [254, 255, 255], [12, 34, 56]]], np.uint8)
    expected = [[0, 1, 2], [3, 4, 5], [255, 255, 255]]
    np.testing.assert_array_equal(colour_labels_to_indices(rgb), expected)
    back = indices_to_colour_labels(np.array(expected))
    np.testing.assert_array_equal(back[:2], rgb[:2])
    np.testing.assert_array_equal(back[2], 0)  # ignore -> boundary black
    with pytest.raises(ValueError, match='RGB'):
        colour_labels_to_indices(np.zeros((4, 4), np.uint8))


def test_vaihingen_irrg_dsm_and_eroded_labels(vaihingen_root, tmp_path):
    root, scenes = vaihingen_root
    ds = ISPRSVaihingen(root, tiles=['1', '2'])
    sample = ds[0]
    assert sample['image'].shape == (4, ) + FAKE_SIZE
    np.testing.assert_array_equal(sample['image'][:3].numpy(),
                                  scenes['1']['rgbir'][[3, 0, 1]])
    np.testing.assert_array_equal(sample['mask'].numpy(),
                                  scenes['1']['eroded'])
    assert ds.modality_channels == {'optical': 3, 'dsm': 1}
    # The eroded labels are also accepted in an eroded/ subfolder.
    moved = copy_root(root, tmp_path / 'v')
    os.makedirs(os.path.join(moved, 'eroded'))
    name = 'top_mosaic_09cm_area2_noBoundary.tif'
    os.rename(os.path.join(moved, name), os.path.join(moved, 'eroded', name))
    mask = ISPRSVaihingen(moved, tiles=2)[0]['mask'].numpy()  # one int id
    np.testing.assert_array_equal(mask, scenes['2']['eroded'])


def test_noboundary_labels_accepted_in_root(potsdam_root, tmp_path):
    root, scenes = potsdam_root
    moved = copy_root(root, tmp_path / 'p')
    name = 'top_potsdam_2_13_label_noBoundary.tif'
    os.rename(os.path.join(moved, '5_Labels_all_noBoundary', name),
              os.path.join(moved, name))
    ds = ISPRSPotsdam(moved, tiles=['2_13'])
    assert ds.files[0].label == os.path.join(moved, name)
    np.testing.assert_array_equal(ds[0]['mask'].numpy(),
                                  scenes['2_13']['eroded'])


def test_bad_arguments(potsdam_root):
    root, _ = potsdam_root
    with pytest.raises(ValueError, match='RGBIR'):
        ISPRSPotsdam(root, tiles=['2_10'], optical='NIR')
    with pytest.raises(ValueError, match='train_mobanet'):
        ISPRSPotsdam(root, split='val')
    with pytest.raises(ValueError, match='9_99'):
        ISPRSPotsdam(root, tiles=['9_99'])
    with pytest.raises(ValueError, match='label_kind'):
        ISPRSPotsdam(root, tiles=['2_10'], label_kind='eroded')
    with pytest.raises(ValueError, match='IRRG'):
        ISPRSVaihingen(root, tiles=['1'], optical='RGB')


def test_window_equals_same_region_of_whole_tile(potsdam_root):
    root, _ = potsdam_root
    ds = ISPRSPotsdam(root, tiles=['2_10'], optical='RGBIR')
    whole = ds.read(0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        h, w = rng.integers(1, 30, 2)
        r = rng.integers(0, FAKE_SIZE[0] - h + 1)
        c = rng.integers(0, FAKE_SIZE[1] - w + 1)
        part = ds.read(0, Window(c, r, w, h))
        np.testing.assert_array_equal(part['image'],
                                      whole['image'][r:r + h, c:c + w])
        np.testing.assert_array_equal(part['label'],
                                      whole['label'][r:r + h, c:c + w])
    with pytest.raises(ISPRSTileError, match='outside'):
        ds.read(0, Window(50, 0, 10, 10))


def test_missing_dataset_names_archives_and_files(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        ISPRSPotsdam(str(tmp_path), split='train_mobanet')
    err = info.value
    assert isinstance(err, MissingDataError)
    message = str(err)
    for needle in ('1_DSM.rar', '2_Ortho_RGB.zip',
                   '5_Labels_all_noBoundary.zip', 'may not be redistributed',
                   '2d-sem-label-potsdam',
                   os.path.join(str(tmp_path), '1_DSM',
                                'dsm_potsdam_02_10.tif'),
                   os.path.join(str(tmp_path), '2_Ortho_RGB',
                                'top_potsdam_2_10_RGB.tif'),
                   '23 of 23'):
        assert needle in message, needle
    # mmengine's registry re-raises type(err)(text): the text must survive.
    rebuilt = type(err)(f'class `X` in y: {err}')
    assert '1_DSM.rar' in str(rebuilt)

    with pytest.raises(DatasetNotFoundError) as info:
        ISPRSVaihingen(str(tmp_path), split='test', label_kind='full')
    message = str(info.value)
    assert 'ISPRS_semantic_labeling_Vaihingen.zip' in message
    assert 'ground_truth_COMPLETE.zip' in message
    assert os.path.join('dsm', 'dsm_09cm_matching_area2.tif') in message


def test_one_missing_file_is_named(potsdam_root, tmp_path):
    root, _ = potsdam_root
    moved = copy_root(root, tmp_path / 'p')
    os.remove(os.path.join(moved, '1_DSM', 'dsm_potsdam_06_07.tif'))
    with pytest.raises(MissingDataError) as info:
        ISPRSPotsdam(moved, tiles=['2_10', '6_7'])
    message = str(info.value)
    assert '1 of 2 requested tiles' in message
    assert 'tile 6_7 DSM' in message and 'dsm_potsdam_06_07.tif' in message
    assert 'tile 2_10 optical' not in message
    assert 'tile 2_10 DSM' not in message


def test_corrupt_tile_is_a_clear_error(potsdam_root, tmp_path):
    root, _ = potsdam_root
    moved = copy_root(root, tmp_path / 'p')
    path = os.path.join(moved, '2_Ortho_RGB', 'top_potsdam_2_10_RGB.tif')
    with open(path, 'wb') as f:
        f.write(b'not a tiff at all' * 10)
    # Refused when the dataset is built, not at the first sample.
    with pytest.raises(ISPRSTileError, match='optical raster of tile 2_10'):
        ISPRSPotsdam(moved, tiles=['2_10'])
    with pytest.raises(ISPRSTileError, match='top_potsdam_2_10_RGB.tif'):
        ISPRSPotsdam(moved, tiles=['2_10'])


def test_dsm_size_mismatch_names_the_modality(potsdam_root, tmp_path):
    root, _ = potsdam_root
    moved = copy_root(root, tmp_path / 'p')
    height, width = FAKE_SIZE
    write_tile_raster(os.path.join(moved, '1_DSM', 'dsm_potsdam_02_10.tif'),
                  np.ones((1, height, width - 2), np.float32))
    with pytest.raises(ISPRSTileError,
                       match=f'optical {height}x{width} .*, dsm '
                       f'{height}x{width - 2} .*dsm_potsdam_02_10.tif'):
        ISPRSPotsdam(moved, tiles=['2_10'])
    with pytest.raises(ValueError, match='dsm_edge_padding'):
        ISPRSPotsdam(moved, tiles=['2_10'], dsm_edge_padding=-1)


def test_dsm_one_column_short_is_padded_like_potsdam_3_13(
        potsdam_root, tmp_path):
    """The official dsm_potsdam_03_13.tif is 5999 columns wide (vs 6000)."""
    root, scenes = potsdam_root
    moved = copy_root(root, tmp_path / 'p')
    height, width = FAKE_SIZE
    dsm = scenes['2_13']['dsm'][:, :-1, :-1]  # one row and column short
    write_tile_raster(os.path.join(moved, '1_DSM', 'dsm_potsdam_02_13.tif'),
                      dsm)
    with pytest.raises(ISPRSTileError, match='dsm'):
        ISPRSPotsdam(moved, tiles=['2_13'], dsm_edge_padding=0)
    ds = ISPRSPotsdam(moved, tiles=['2_13'])  # Potsdam default: 1
    whole = ds.read(0)['image'][..., -1]
    assert whole.shape == FAKE_SIZE
    expected = np.pad(minmax(dsm[0].astype(np.float64)), ((0, 1), (0, 1)),
                      mode='edge')
    np.testing.assert_allclose(whole, expected, atol=1e-6)
    # A window reaching into the padded column reads the same values.
    corner = ds.read(0, Window(width - 3, height - 2, 3, 2))['image'][..., -1]
    np.testing.assert_array_equal(corner, whole[-2:, -3:])
    edge = ds.read(0, Window(width - 1, 0, 1, 4))['image'][..., -1]
    np.testing.assert_array_equal(edge, whole[:4, -1:])


def test_label_must_be_rgb(potsdam_root, tmp_path):
    root, scenes = potsdam_root
    moved = copy_root(root, tmp_path / 'p')
    write_tile_raster(
        os.path.join(moved, '5_Labels_all_noBoundary',
                     'top_potsdam_2_10_label_noBoundary.tif'),
        scenes['2_10']['labels'][None])
    with pytest.raises(ISPRSTileError, match='RGB colour map'):
        ISPRSPotsdam(moved, tiles=['2_10'])


def test_dsm_nodata_and_nan_are_left_out(potsdam_root, tmp_path):
    root, _ = potsdam_root
    moved = copy_root(root, tmp_path / 'p')
    dsm = np.linspace(10, 20, FAKE_SIZE[0] * FAKE_SIZE[1],
                      dtype=np.float32).reshape((1, ) + FAKE_SIZE)
    dsm[0, 0, 0] = -9999.0  # declared nodata
    dsm[0, 5, 5] = np.nan
    path = os.path.join(moved, '1_DSM', 'dsm_potsdam_02_10.tif')
    os.remove(path)
    write_tile_raster(path, dsm, nodata=-9999.0)
    stats = dsm_statistics(path)
    assert stats.minimum[0] == pytest.approx(dsm[0, 0, 1])
    assert stats.maximum[0] == pytest.approx(20.0)
    scaled = ISPRSPotsdam(moved, tiles=['2_10'])[0]['image'][-1].numpy()
    assert np.isfinite(scaled).all()
    assert scaled[0, 0] == 0 and scaled[5, 5] == 0
    assert scaled[0, 1] == 0 and scaled[-1, -1] == pytest.approx(1.0)


def test_checksum_checks_full_md5s_and_skips_torchgeo_truncated_one(
        potsdam_root, tmp_path):
    root, _ = potsdam_root
    moved = copy_root(root, tmp_path / 'p')
    with open(os.path.join(moved, '5_Labels_all.zip'), 'wb') as f:
        f.write(b'labels')
    with pytest.warns(UserWarning, match='truncated to 22'):
        ISPRSPotsdam(moved, tiles=['2_10'], checksum=True)
    with open(os.path.join(moved, '4_Ortho_RGBIR.zip'), 'wb') as f:
        f.write(b'not the real archive')
    with pytest.raises(RuntimeError, match='4_Ortho_RGBIR.zip'):
        ISPRSPotsdam(moved, tiles=['2_10'], checksum=True)


def test_plot(potsdam_root):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    root, _ = potsdam_root
    ds = ISPRSPotsdam(root, tiles=['2_10'])
    sample = ds[0]
    fig = ds.plot(sample, suptitle='2_10')
    assert len(fig.axes) == 3
    sample['prediction'] = sample['mask'].clone()
    assert len(ds.plot(sample).axes) == 4
    plt.close('all')
