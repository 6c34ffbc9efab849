"""ISPRS tiles are checked from their file headers when a dataset is built.

Every check here used to pass silently at build time; the bad tile then
failed only when it was first read (the first validation of a training run).
"""
import os
import shutil

import numpy as np
import pytest
from fake_data.isprs_tiles import FAKE_SIZE, write_tile_raster
from rasterio.transform import Affine

from m3plugins.datasets.isprs import (
    ISPRSPotsdam,
    ISPRSPotsdamDataset,
    ISPRSTileError,
    ISPRSVaihingen,
)

DSM_2_10 = os.path.join('1_DSM', 'dsm_potsdam_02_10.tif')
RGB_2_10 = os.path.join('2_Ortho_RGB', 'top_potsdam_2_10_RGB.tif')
LABEL_2_10 = os.path.join('5_Labels_all_noBoundary',
                          'top_potsdam_2_10_label_noBoundary.tif')


@pytest.fixture
def root(potsdam_root, tmp_path):
    """A private copy of the fake Potsdam root, free to damage."""
    copy = tmp_path / 'potsdam'
    shutil.copytree(potsdam_root[0], copy)
    return str(copy)


def test_mmseg_dataset_refuses_a_dsm_of_another_size_when_built(root):
    """A DSM 10 rows and 6 columns short is refused at build time.

    As a 500x480 DSM beside a 512x512 tile; the message names both files,
    both sizes and the fix.
    """
    height, width = FAKE_SIZE
    write_tile_raster(os.path.join(root, DSM_2_10),
                  np.ones((1, height - 10, width - 6), np.float32))
    with pytest.raises(ISPRSTileError) as info:
        ISPRSPotsdamDataset(data_root=root, tiles=['2_10', '6_7'],
                            pipeline=[])
    message = str(info.value)
    assert f'optical {height}x{width}' in message
    assert f'dsm {height - 10}x{width - 6}' in message
    assert 'top_potsdam_2_10_RGB.tif' in message
    assert 'dsm_potsdam_02_10.tif' in message
    assert 'Fix:' in message and 'dsm_edge_padding' in message


def test_dsm_short_by_the_tolerance_is_still_accepted(root):
    height, width = FAKE_SIZE
    write_tile_raster(os.path.join(root, DSM_2_10),
                  np.ones((1, height - 1, width - 1), np.float32))
    dataset = ISPRSPotsdam(root, tiles=['2_10'])  # Potsdam tolerates 1
    assert dataset.read(0)['image'].shape == (height, width, 4)
    write_tile_raster(os.path.join(root, DSM_2_10),
                  np.ones((1, height - 2, width), np.float32))
    with pytest.raises(ISPRSTileError,
                       match=rf'dsm {height - 2}x{width} '
                       r'.*at most 1 row\(s\)'):
        ISPRSPotsdam(root, tiles=['2_10'])
    assert len(ISPRSPotsdam(root, tiles=['2_10'], dsm_edge_padding=2)) == 1


def test_label_map_of_another_size_names_the_label_file(root):
    height, width = FAKE_SIZE
    write_tile_raster(os.path.join(root, LABEL_2_10),
                  np.zeros((3, height, width + 8), np.uint8))
    with pytest.raises(ISPRSTileError,
                       match=f'label {height}x{width + 8} .*'
                       'top_potsdam_2_10_label_noBoundary.tif'):
        ISPRSPotsdam(root, tiles=['2_10'])


def test_optical_band_count_must_match_the_variant(root):
    height, width = FAKE_SIZE
    write_tile_raster(os.path.join(root, RGB_2_10),
                  np.zeros((4, height, width), np.uint8))
    with pytest.raises(ISPRSTileError,
                       match='must have 3 bands, .*top_potsdam_2_10_RGB.tif '
                       'has 4'):
        ISPRSPotsdam(root, tiles=['2_10'], optical='RGB')


def test_misaligned_dsm_is_refused_unless_the_check_is_off(root):
    height, width = FAKE_SIZE
    dsm = np.ones((1, height, width), np.float32)
    shifted = Affine(0.05, 0, 366100.0, 0, -0.05, 5808000.0)
    write_tile_raster(os.path.join(root, DSM_2_10), dsm,
                      transform=shifted)
    with pytest.raises(ISPRSTileError) as info:
        ISPRSPotsdam(root, tiles=['2_10'])
    message = str(info.value)
    assert 'not co-registered' in message and '366100.0' in message
    assert 'top_potsdam_2_10_RGB.tif' in message
    assert 'dsm_potsdam_02_10.tif' in message
    assert 'check_georeference=False' in message
    assert len(ISPRSPotsdam(root, tiles=['2_10'],
                            check_georeference=False)) == 1
    write_tile_raster(os.path.join(root, DSM_2_10), dsm, epsg=32632)
    with pytest.raises(ISPRSTileError, match='CRS EPSG:32633 vs EPSG:32632'):
        ISPRSPotsdam(root, tiles=['2_10'])


@pytest.mark.filterwarnings(
    'ignore::rasterio.errors.NotGeoreferencedWarning')
def test_dsm_without_georeference_is_not_compared(root):
    height, width = FAKE_SIZE
    write_tile_raster(os.path.join(root, DSM_2_10),
                      np.ones((1, height, width), np.float32), epsg=None,
                      transform=Affine.identity())
    assert len(ISPRSPotsdam(root, tiles=['2_10'])) == 1


@pytest.mark.parametrize('relative', [RGB_2_10, DSM_2_10, LABEL_2_10])
def test_truncated_file_is_refused_when_built(root, relative):
    """A file cut in half keeps a valid header but not its last block.

    As after an interrupted copy.
    """
    path = os.path.join(root, relative)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(ISPRSTileError) as info:
        ISPRSPotsdam(root, tiles=['2_10'])
    assert os.path.basename(relative) in str(info.value)
    assert 'truncated or corrupt' in str(info.value)


def test_vaihingen_dsm_size_is_checked_without_tolerance(vaihingen_root,
                                                         tmp_path):
    copy = tmp_path / 'vaihingen'
    shutil.copytree(vaihingen_root[0], copy)
    height, width = FAKE_SIZE
    write_tile_raster(
        os.path.join(copy, 'dsm', 'dsm_09cm_matching_area1.tif'),
        np.ones((1, height - 1, width), np.float32), epsg=32632)
    with pytest.raises(ISPRSTileError,
                       match=f'dsm {height - 1}x{width} .*'
                       'dsm_09cm_matching_area1.tif'):
        ISPRSVaihingen(str(copy), tiles=['1'])
