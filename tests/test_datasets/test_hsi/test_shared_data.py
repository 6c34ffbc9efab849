"""Real split maps and ground truth from ../shared/data (skipped when absent).

The full cubes are not redistributable, so each test links the real label
(and LiDAR) files into a temporary root next to a generated cube of the real
spatial size (2 bands to stay fast, declared to the scenes with
``band_counts``, which they otherwise check against the real counts).
"""
import os
import os.path as osp

import numpy as np
import pytest
from fake_data.hsi_scene_files import reference_crop_windows, write_mat_v5

from m3plugins.datasets.hsi import (
    MUUFL,
    Augsburg,
    Houston2013,
    IndianPines,
    KennedySpaceCenter,
    PaviaUniversity,
    Salinas,
    Trento,
)
from m3plugins.datasets.hsi_scene_dataset import HSISceneDataset

#: The generated cubes' band count, declared to the scenes.
TWO_BANDS = dict(hsi=2)

HOUSTON_TRAIN = [198, 190, 192, 188, 186, 182, 196, 191, 193, 191, 181, 192,
                 184, 181, 187]
HOUSTON_TEST = [1053, 1064, 505, 1056, 1056, 143, 1072, 1053, 1059, 1036,
                1054, 1041, 285, 247, 473]
# Crops of M3amba's protocol on the contest split (32 px, padding 16):
# stride 8 holding a training label, stride 32 holding a test label.
HOUSTON_TRAIN_CROPS, HOUSTON_TEST_CROPS = 2769, 325


def _root(tmp_path, shared_data, folder, links, cubes):
    root = tmp_path / folder
    root.mkdir()
    for name in links:
        os.symlink(osp.join(shared_data, folder, name), root / name)
    rng = np.random.default_rng(0)
    for filename, (key, shape) in cubes.items():
        write_mat_v5(str(root / filename),
                     {key: rng.random(shape).astype(np.float32)})
    return str(root)


@pytest.mark.parametrize('layout', ['mat', 'tif'])
def test_houston2013_standard_split(tmp_path, shared_data, layout):
    links = (['TRLabel.mat', 'TSLabel.mat'] if layout == 'mat' else [
        '2013_IEEE_GRSS_DF_Contest_Samples_TR.tif',
        '2013_IEEE_GRSS_DF_Contest_Samples_VA.tif'
    ])
    root = _root(tmp_path, shared_data, 'houston2013', links,
                 {'HSI.mat': ('HSI', (349, 1905, 2)),
                  'LiDAR.mat': ('LiDAR', (349, 1905))})
    ds = Houston2013(root, band_counts=TWO_BANDS)
    assert ds[0]['image'].shape == (3, 349, 1905)
    assert ds.class_counts('train').tolist() == HOUSTON_TRAIN
    assert ds.class_counts('test').tolist() == HOUSTON_TEST
    assert ds.class_counts('train').sum() == 2832
    assert ds.class_counts('test').sum() == 12197


def test_trento_standard_split_and_real_lidar(tmp_path, shared_data):
    root = _root(tmp_path, shared_data, 'trento',
                 ['TRLabel.mat', 'TSLabel.mat', 'LiDAR.mat'],
                 {'HSI.mat': ('HSI', (166, 600, 2))})
    ds = Trento(root, band_counts=TWO_BANDS, normalization=dict(lidar='none'))
    assert ds.class_counts('train').tolist() == [129, 125, 105, 154, 184, 122]
    assert ds.class_counts('test').tolist() == [
        3905, 2778, 374, 8969, 10317, 3052]
    assert ds.class_counts('train').sum() == 819
    assert ds.class_counts('test').sum() == 29395
    lidar = ds.image[..., 2]
    assert ds.modality_channels == dict(hsi=2, lidar=1)
    assert lidar.min() == pytest.approx(0, abs=1e-3)
    assert lidar.max() == pytest.approx(20.15, abs=0.01)


def test_augsburg_standard_split(tmp_path, shared_data):
    root = _root(tmp_path, shared_data, 'augsburg',
                 ['TrainImage.mat', 'TestImage.mat'],
                 {'data_HS_LR.mat': ('data_HS_LR', (332, 485, 2))})
    ds = Augsburg(root, band_counts=TWO_BANDS, modalities=('hsi', ))
    assert ds.class_counts('train').tolist() == [146, 264, 21, 248, 52, 7, 23]
    assert ds.class_counts('test').tolist() == [
        13361, 30065, 3830, 26609, 523, 1638, 1507]
    assert ds.class_counts('test').sum() == 77533


def test_muufl_seeded_per_class_sampling(tmp_path, shared_data):
    root = _root(tmp_path, shared_data, 'muufl', ['gt.mat', 'LiDAR.mat'],
                 {'HSI.mat': ('HSI', (325, 220, 2))})
    a = MUUFL(root, band_counts=TWO_BANDS)
    assert a.modality_channels == dict(hsi=2, lidar=2)
    assert a.class_counts('train').tolist() == [20] * 11
    total = [23246, 4270, 6882, 1826, 6687, 466, 2233, 6240, 1385, 183, 269]
    assert (a.class_counts('test') + a.class_counts('train')).tolist() == \
        total
    b = MUUFL(root, band_counts=TWO_BANDS, seed=0)
    c = MUUFL(root, band_counts=TWO_BANDS, seed=1)
    np.testing.assert_array_equal(a.label_maps['train'], b.label_maps['train'])
    assert (a.label_maps['train'] != c.label_maps['train']).any()
    d = MUUFL(root, band_counts=TWO_BANDS, train_per_class=0.05)
    assert d.class_counts('train').tolist() == [
        int(round(0.05 * n)) for n in total]


def test_indian_pines_v5_ground_truth(tmp_path, shared_data):
    root = _root(tmp_path.joinpath(), shared_data, 'hsi_gt',
                 ['Indian_pines_gt.mat'],
                 {'Indian_pines_corrected.mat':
                  ('indian_pines_corrected', (145, 145, 2))})
    # The real EHU file's md5:
    ds = IndianPines(root, checksum=True, band_counts=TWO_BANDS)
    counts = ds.class_counts('train') + ds.class_counts('test')
    assert counts.tolist() == [46, 1428, 830, 237, 483, 730, 28, 478, 20, 972,
                               2455, 593, 205, 1265, 386, 93]
    assert ds.class_counts('train').tolist() == [
        max(1, int(round(0.1 * n))) for n in counts]


def test_pavia_university_v73_ground_truth(tmp_path, shared_data):
    root = _root(tmp_path, shared_data, 'hsi_gt', ['PaviaU_gt.mat'],
                 {'PaviaU.mat': ('paviaU', (610, 340, 2))})
    ds = PaviaUniversity(root, train_per_class=50,
                         band_counts=TWO_BANDS)
    counts = ds.class_counts('train') + ds.class_counts('test')
    assert counts.tolist() == [6631, 18649, 2099, 3064, 1345, 5029, 1330,
                               3682, 947]
    assert ds.class_counts('train').tolist() == [50] * 9



def test_houston2013_crop_protocol_on_the_real_split(tmp_path, shared_data):
    """M3amba's protocol on the contest split.

    Training crops (stride 8) are exactly the grid windows holding a training
    label; the stride-32 test crops hold every test pixel exactly once.
    """
    root = _root(tmp_path, shared_data, 'houston2013',
                 ['TRLabel.mat', 'TSLabel.mat'],
                 {'HSI.mat': ('HSI', (349, 1905, 1))})
    scene = Houston2013(root, modalities=('hsi', ),
                        band_counts=dict(hsi=1))
    train = HSISceneDataset(scene, split='train')
    test = HSISceneDataset(scene, split='test')
    assert [tuple(w) for w in train.windows.tolist()] == \
        reference_crop_windows(scene.label_maps['train'] > 0, 32, 8, 16)
    covered = np.zeros((349, 1905), np.int64)
    for y0, x0, h, w in test.windows.tolist():
        covered[max(y0, 0):y0 + h, max(x0, 0):x0 + w] += 1
    assert (covered[scene.label_maps['test'] > 0] == 1).all()
    assert (len(train), len(test)) == (HOUSTON_TRAIN_CROPS, HOUSTON_TEST_CROPS)


def test_salinas_v73_ground_truth(tmp_path, shared_data):
    root = _root(tmp_path, shared_data, 'hsi_gt', ['Salinas_gt.mat'],
                 {'Salinas_corrected.mat':
                  ('salinas_corrected', (512, 217, 2))})
    ds = Salinas(root, band_counts=TWO_BANDS)
    assert ds[0]['image'].shape == (2, 512, 217)
    counts = ds.class_counts('train') + ds.class_counts('test')
    assert counts.tolist() == [2009, 3726, 1976, 1394, 2678, 3959, 3579,
                               11271, 6203, 3278, 1068, 1927, 916, 1070,
                               7268, 1807]
    assert counts.sum() == 54129
    assert ds.class_counts('train').tolist() == [
        max(1, int(round(0.01 * n))) for n in counts]


def test_kennedy_space_center_v73_ground_truth(tmp_path, shared_data):
    root = _root(tmp_path, shared_data, 'hsi_gt', ['KSC_gt.mat'],
                 {'KSC.mat': ('KSC', (512, 614, 2))})
    ds = KennedySpaceCenter(root, band_counts=TWO_BANDS)
    assert ds[0]['image'].shape == (2, 512, 614)
    counts = ds.class_counts('train') + ds.class_counts('test')
    assert counts.tolist() == [761, 243, 256, 252, 161, 229, 105, 431, 520,
                               404, 419, 503, 927]
    assert counts.sum() == 5211
    assert ds.class_counts('train').tolist() == [
        max(1, int(round(0.1 * n))) for n in counts]
