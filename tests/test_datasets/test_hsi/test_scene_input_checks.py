"""Bad scene files are refused when a scene is built, naming the file.

Band counts and sizes are checked from the file headers before any pixel is
read; truncated files (an interrupted download, cut in half here) raise an
error naming the file in every format.
"""
import os.path as osp

import numpy as np
import pytest
from fake_data.hsi_scene_files import (
    SMALL_SIZE,
    write_mat_v5,
    write_mat_v73,
    write_scene_geotiff,
)
from repo_root import REPO_ROOT
from user_error import raises_user_error

from m3plugins.datasets.hsi import Houston2013, Trento
from m3plugins.datasets.hsi_scene_dataset import HSISceneDataset
from m3plugins.io.label_values import LabelValueError
from m3plugins.io.raster_reading import (
    RasterReadError,
    read_raster,
    read_raster_shape,
)
from m3plugins.utils.modalities import ModalityError
from m3plugins.utils.user_errors import exit_on_user_error


def test_hsi_with_one_band_missing_names_modality_and_both_counts(
        tmp_path, scene_writer):
    scene_writer(str(tmp_path), Houston2013)
    write_mat_v5(str(tmp_path / 'HSI.mat'),
                 {'HSI': np.ones(SMALL_SIZE + (143, ), np.float32)})
    with pytest.raises(ModalityError) as info:
        Houston2013(str(tmp_path))
    message = str(info.value)
    assert message.startswith('hsi has 143 bands, Houston2013 expects 144 '
                              '(modality layout hsi=144, lidar=1; total 144 '
                              'vs 145)')
    assert 'HSI.mat' in message and 'band_counts=dict(hsi=143)' in message


def test_band_subset_loads_when_declared(tmp_path, scene_writer):
    scene_writer(str(tmp_path), Houston2013)
    write_mat_v5(str(tmp_path / 'HSI.mat'),
                 {'HSI': np.ones(SMALL_SIZE + (48, ), np.float32)})
    scene = Houston2013(str(tmp_path), band_counts=dict(hsi=48))
    assert scene.modality_channels == dict(hsi=48, lidar=1)
    with pytest.raises(ValueError, match="modalities \\['sar'\\]"):
        Houston2013(str(tmp_path), band_counts=dict(sar=4))


def test_scene_config_band_counts_reach_the_scene(tmp_path, scene_writer):
    """HSISceneDataset's scene config is where a config declares them."""
    scene_writer(str(tmp_path), Trento)
    write_mat_v5(str(tmp_path / 'HSI.mat'),
                 {'HSI': np.ones(SMALL_SIZE + (60, ), np.float32)})
    with pytest.raises(ModalityError, match='hsi has 60 bands, Trento '
                       'expects 63'):
        HSISceneDataset(dict(type='Trento', root=str(tmp_path)),
                        cache_scene=False)
    dataset = HSISceneDataset(
        dict(type='Trento', root=str(tmp_path), band_counts=dict(hsi=60)),
        cache_scene=False)
    assert dataset.modality_channels == dict(hsi=60, lidar=1)


def test_geotiff_band_count_is_read_from_the_header(tmp_path, scene_writer):
    scene_writer(str(tmp_path), Houston2013, fmt='tif')
    write_scene_geotiff(str(tmp_path / '2013_IEEE_GRSS_DF_Contest_LiDAR.tif'),
                  np.ones(SMALL_SIZE + (2, ), np.float32))
    with pytest.raises(ModalityError,
                       match='lidar has 2 bands, Houston2013 expects 1 .*'
                       '2013_IEEE_GRSS_DF_Contest_LiDAR.tif'):
        Houston2013(str(tmp_path))


def test_label_map_size_names_both_files(tmp_path, scene_writer):
    scene_writer(str(tmp_path), Trento)
    write_mat_v5(str(tmp_path / 'TRLabel.mat'),
                 {'TRLabel': np.zeros((5, 5), np.uint8)})
    with pytest.raises(ModalityError,
                       match=r'train labels map is 5x5 but the modalities are '
                       r'12x20 .*TRLabel.mat vs hsi .*HSI.mat'):
        Trento(str(tmp_path))


def test_modality_sizes_name_the_files(tmp_path, scene_writer):
    scene_writer(str(tmp_path), Trento, modality_size=dict(lidar=(10, 20)))
    with pytest.raises(ModalityError,
                       match=r'hsi 12x20, lidar 10x20 .*files: hsi .*HSI.mat,'
                       r' lidar .*LiDAR.mat'):
        Trento(str(tmp_path))


def test_label_above_the_class_count_names_the_file(
        tmp_path, scene_writer):
    scene_writer(str(tmp_path), Trento)
    write_mat_v5(str(tmp_path / 'TRLabel.mat'),
                 {'TRLabel': np.full(SMALL_SIZE, 9, np.uint8)})
    with pytest.raises(ValueError, match='TRLabel.mat.* label 9 but Trento '
                       'has 6 classes'):
        Trento(str(tmp_path))


def test_nan_labels_are_named_as_nan(tmp_path, scene_writer):
    """Not "non-integer values": the user looks for a no-data fill."""
    scene_writer(str(tmp_path), Trento)
    labels = np.zeros(SMALL_SIZE, np.float32)
    labels[3, 4] = np.nan
    write_mat_v5(str(tmp_path / 'TRLabel.mat'), {'TRLabel': labels})
    with raises_user_error(LabelValueError,
                           r'The train labels map .*TRLabel\.mat contains '
                           r'NaN at 1 pixel\(s\) \(first at row 3, column '
                           r'4\)'):
        with exit_on_user_error():
            Trento(str(tmp_path))


@pytest.mark.parametrize('fmt', ['mat5', 'mat73', 'tif'])
def test_truncated_file_names_the_file(tmp_path, fmt):
    cube = np.arange(np.prod(SMALL_SIZE) * 63, dtype=np.float32).reshape(
        SMALL_SIZE + (63, ))
    if fmt == 'tif':
        path = write_scene_geotiff(str(tmp_path / 'cube.tif'), cube)
    else:
        writer = write_mat_v5 if fmt == 'mat5' else write_mat_v73
        path = writer(str(tmp_path / 'cube.mat'), {'HSI': cube})
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(RasterReadError) as info:
        read_raster(path, 'HSI')
    assert osp.basename(path) in str(info.value)
    assert 'truncated or corrupt' in str(info.value)


@pytest.mark.parametrize('fmt', ['mat5', 'mat73', 'tif'])
def test_truncated_scene_file_fails_the_scene(tmp_path, scene_writer, fmt):
    scene_writer(str(tmp_path), Houston2013, fmt=fmt)
    path = tmp_path / ('2013_IEEE_GRSS_DF_Contest_CASI.tif' if fmt == 'tif'
                       else 'HSI.mat')
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(RasterReadError,
                       match=f'{path.name}.*truncated or corrupt'):
        Houston2013(str(tmp_path))


@pytest.mark.parametrize('fmt', ['mat5', 'mat73', 'tif'])
def test_header_shape_equals_the_read_shape(tmp_path, fmt):
    for shape in [(3, 5), (3, 5, 4)]:
        array = np.zeros(shape, np.float32)
        if fmt == 'tif':
            path = write_scene_geotiff(str(tmp_path / 'a.tif'), array)
        else:
            writer = write_mat_v5 if fmt == 'mat5' else write_mat_v73
            path = writer(str(tmp_path / 'a.mat'), {'a': array})
        assert read_raster_shape(path, 'a') == read_raster(path, 'a').shape \
            == shape


def _spectralmamba_demo_cfg(root, tmp_path, model_layout, band_counts=None):
    from mmengine.config import Config
    repo = REPO_ROOT
    cfg = Config.fromfile(
        osp.join(repo, 'configs', 'spectralmamba', 'spectralmamba_demo.py'))
    scene = dict(type='Houston2013', root=root, modalities=('hsi', 'lidar'))
    if band_counts:
        scene['band_counts'] = band_counts
    cfg.model.backbone.modality_channels = model_layout
    cfg.model.decode_head.num_classes = len(Houston2013.classes)
    cfg.train_dataloader.dataset.scene = scene
    cfg.train_dataloader.dataset.cache_scene = False
    cfg.val_dataloader.dataset.scene = scene
    cfg.val_dataloader.dataset.cache_scene = False
    cfg.test_dataloader = cfg.val_dataloader
    cfg.work_dir = str(tmp_path / 'work')
    return cfg


@pytest.mark.slow
def test_runner_names_the_modality_before_the_first_iteration(
        tmp_path, scene_writer):
    """A band-subset scene (143 bands, declared) against a model built for 144.

    Refused when the train loop starts, per modality.
    """
    from m3plugins.apis.cli import build_runner
    (tmp_path / 'houston').mkdir()
    root = str(tmp_path / 'houston')
    scene_writer(root, Houston2013)
    write_mat_v5(osp.join(root, 'HSI.mat'),
                 {'HSI': np.ones(SMALL_SIZE + (143, ), np.float32)})
    runner = build_runner(_spectralmamba_demo_cfg(
        root, tmp_path, [('hsi', 144), ('lidar', 1)],
        band_counts=dict(hsi=143)))
    with raises_user_error(
            ModalityError,
            r'^hsi has 143 bands, the model expects 144 \(modality layout '
            r'hsi=144, lidar=1; total 144 vs 145\) in the train dataset '
            'HSISceneDataset'):
        runner.train()
    assert runner.iter == 0
    with raises_user_error(ModalityError, 'in the test dataset'):
        runner.test()
