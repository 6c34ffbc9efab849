"""The ten TorchGeo-style scenes on generated files in the real formats."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from fake_data.hsi_scene_files import SMALL_SIZE, write_mat_v5
from rasterio.crs import CRS
from rasterio.transform import Affine
from torchgeo.datasets import DatasetNotFoundError

from m3plugins.datasets.hsi import (
    HSI_SCENES,
    MUUFL,
    Augsburg,
    Botswana,
    Houston2013,
    IndianPines,
    KennedySpaceCenter,
    PaviaUniversity,
    Salinas,
    Trento,
    WHUHiLongKou,
    scene,
)
from m3plugins.io import MissingDataError, RasterReadError
from m3plugins.utils.modalities import ModalityError

ALL_SCENES = [Houston2013, MUUFL, Augsburg, Trento, Botswana, WHUHiLongKou,
              IndianPines, PaviaUniversity, Salinas, KennedySpaceCenter]
#: Houston2013's grid: UTM zone 15N, 2.5 m pixels.
HOUSTON_GEO = (Affine(2.5, 0.0, 271460.0, 0.0, -2.5, 3290891.0),
               CRS.from_epsg(32615))
CLASS_COUNTS = {Houston2013: 15, MUUFL: 11, Augsburg: 7, Trento: 6,
                Botswana: 14, WHUHiLongKou: 9, IndianPines: 16,
                PaviaUniversity: 9, Salinas: 16, KennedySpaceCenter: 13}


def test_registry_holds_every_scene():
    for scene_cls in ALL_SCENES:
        assert HSI_SCENES.get(scene_cls.__name__) is scene_cls


@pytest.mark.parametrize('scene_cls', ALL_SCENES)
def test_scene_loads_default_modalities(tmp_path, scene_writer, scene_cls):
    arrays = scene_writer(str(tmp_path), scene_cls)
    ds = scene_cls(str(tmp_path), split='train')
    channels = sum(scene_cls.modality_bands[m]
                   for m in scene_cls.default_modalities)
    assert len(ds) == 1 and ds.num_classes == CLASS_COUNTS[scene_cls]
    assert len(ds.palette) == ds.num_classes
    assert list(ds.modality_channels) == list(scene_cls.default_modalities)
    sample = ds[0]
    assert sample['image'].shape == (channels, ) + SMALL_SIZE
    assert sample['image'].dtype == torch.float32
    assert sample['mask'].dtype == torch.int64
    assert sample['mask'].shape == SMALL_SIZE
    # Per-band min-max over the scene: every band spans exactly [0, 1].
    flat = sample['image'].flatten(1)
    torch.testing.assert_close(flat.min(1).values, torch.zeros(channels))
    torch.testing.assert_close(flat.max(1).values, torch.ones(channels))
    train, test = ds.label_maps['train'], ds.label_maps['test']
    assert not ((train > 0) & (test > 0)).any()
    assert (ds.class_counts('train') > 0).all()
    if scene_cls.split_label_files:
        np.testing.assert_array_equal(train, arrays['train'])
        np.testing.assert_array_equal(test, arrays['test'])
    else:
        np.testing.assert_array_equal(np.maximum(train, test), arrays['gt'])
    np.testing.assert_array_equal(
        scene_cls(str(tmp_path), split='test')[0]['mask'].numpy(), test)
    with pytest.raises(IndexError):
        ds[1]


def test_modality_selection_order_and_normalization(tmp_path, scene_writer):
    arrays = scene_writer(str(tmp_path), Augsburg)
    ds = Augsburg(str(tmp_path), modalities=('dsm', 'hsi', 'sar'),
                  normalization=dict(dsm='none', sar='zscore'))
    assert ds.modality_channels == dict(dsm=1, hsi=180, sar=4)
    image = ds[0]['image']
    assert image.shape[0] == 185
    np.testing.assert_allclose(image[0].numpy(), arrays['dsm'], rtol=1e-6)
    np.testing.assert_allclose(image[1:181].amax((1, 2)).numpy(), 1,
                               atol=1e-6)
    sar = image[181:].flatten(1)
    np.testing.assert_allclose(sar.mean(1).numpy(), 0, atol=1e-4)
    hsi_only = Augsburg(str(tmp_path), modalities=('hsi', ))
    assert hsi_only[0]['image'].shape[0] == 180
    with pytest.raises(ValueError, match="'lidar'"):
        Augsburg(str(tmp_path), modalities=('hsi', 'lidar'))
    with pytest.raises(ValueError, match='distinct'):
        Augsburg(str(tmp_path), modalities=('hsi', 'hsi'))
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        Augsburg(str(tmp_path), split='val')


@pytest.mark.parametrize('fmt', ['mat73', 'tif'])
def test_houston_v73_and_official_geotiff_names(tmp_path, scene_writer, fmt):
    arrays = scene_writer(str(tmp_path), Houston2013, fmt=fmt)
    if fmt == 'tif':
        assert osp.isfile(tmp_path / '2013_IEEE_GRSS_DF_Contest_CASI.tif')
        assert osp.isfile(tmp_path /
                          '2013_IEEE_GRSS_DF_Contest_Samples_VA.tif')
    ds = Houston2013(str(tmp_path), normalization='none')
    np.testing.assert_allclose(ds.image[..., :144], arrays['hsi'])
    np.testing.assert_allclose(ds.image[..., 144], arrays['lidar'])
    np.testing.assert_array_equal(ds.label_maps['test'], arrays['test'])
    # Neither MATLAB files nor plain image grids are georeferenced.
    assert ds.transform is None and ds.crs is None


def test_georeferenced_geotiff_scene_keeps_transform_and_crs(
        tmp_path, scene_writer):
    arrays = scene_writer(str(tmp_path), Houston2013, fmt='tif',
                          georeference=HOUSTON_GEO)
    ds = Houston2013(str(tmp_path), normalization='none')
    assert ds.transform == HOUSTON_GEO[0] and ds.crs == HOUSTON_GEO[1]
    np.testing.assert_allclose(ds.image[..., :144], arrays['hsi'])
    # Only the LiDAR of a .mat HSI scene is a georeferenced GeoTIFF: its
    # georeference is the scene's, whatever the modality order.
    os.remove(tmp_path / '2013_IEEE_GRSS_DF_Contest_CASI.tif')
    write_mat_v5(str(tmp_path / 'HSI.mat'), {'HSI': arrays['hsi']})
    for modalities in (('hsi', 'lidar'), ('lidar', 'hsi')):
        ds = Houston2013(str(tmp_path), modalities=modalities)
        assert (ds.transform, ds.crs) == HOUSTON_GEO
    assert Houston2013(str(tmp_path), modalities=('hsi', )).crs is None


@pytest.mark.parametrize('differs', ['transform', 'CRS'])
def test_misaligned_geotiff_modalities_fail(tmp_path, scene_writer, differs):
    transform, crs = HOUSTON_GEO
    shifted = Affine(2.5, 0.0, 271462.5, 0.0, -2.5, 3290891.0)  # 1 pixel
    lidar = (shifted, crs) if differs == 'transform' else \
        (transform, CRS.from_epsg(32614))
    scene_writer(str(tmp_path), Houston2013, fmt='tif',
                 georeference=HOUSTON_GEO,
                 modality_georeference=dict(lidar=lidar))
    with pytest.raises(ModalityError,
                       match=f"'hsi'.*'lidar'.*not co-registered: {differs}"):
        Houston2013(str(tmp_path))
    with pytest.raises(ModalityError, match=f"'lidar'.*'hsi'.*{differs}"):
        Houston2013(str(tmp_path), modalities=('lidar', 'hsi'))
    # Each modality alone is fine.
    assert Houston2013(str(tmp_path), modalities=('lidar', )).transform == \
        lidar[0]


def test_missing_files_say_what_to_get_and_where(tmp_path, scene_writer):
    scene_writer(str(tmp_path), Houston2013)
    os.remove(tmp_path / 'LiDAR.mat')
    with pytest.raises(DatasetNotFoundError) as info:
        Houston2013(str(tmp_path))
    message = str(info.value)
    assert isinstance(info.value, MissingDataError)
    assert 'LiDAR.mat or 2013_IEEE_GRSS_DF_Contest_LiDAR.tif' in message
    assert 'hyperspectral.ee.uh.edu' in message
    assert 'TSLabel.mat (key TSLabel)' in message
    assert 'download=True' not in message  # not downloadable
    # HSI only does not need the LiDAR file.
    assert Houston2013(str(tmp_path), modalities=('hsi', ))[0][
        'image'].shape[0] == 144
    with pytest.raises(DatasetNotFoundError, match='download=True'):
        IndianPines(str(tmp_path / 'empty'))


def test_corrupt_file_is_a_clear_error(tmp_path, scene_writer):
    scene_writer(str(tmp_path), Trento)
    (tmp_path / 'HSI.mat').write_bytes(b'\x00garbage' * 100)
    with pytest.raises(RasterReadError, match='HSI.mat'):
        Trento(str(tmp_path))


def test_wrong_key_lists_the_file_keys(tmp_path, scene_writer):
    scene_writer(str(tmp_path), Trento)
    write_mat_v5(str(tmp_path / 'LiDAR.mat'),
                 {'dsm': np.zeros(SMALL_SIZE), 'x': np.zeros(SMALL_SIZE)})
    with pytest.raises(RasterReadError, match=r"\['dsm', 'x'\]"):
        Trento(str(tmp_path))


def test_nan_cube_names_the_modality(tmp_path, scene_writer):
    scene_writer(str(tmp_path), MUUFL, nan_in='lidar')
    with pytest.raises(ModalityError, match="'lidar'.*NaN"):
        MUUFL(str(tmp_path))
    assert MUUFL(str(tmp_path), modalities=('hsi', ))[0]['image'].shape[0] \
        == 64


def test_mismatched_sizes(tmp_path, scene_writer):
    scene_writer(str(tmp_path), Trento, modality_size=dict(lidar=(10, 20)))
    with pytest.raises(ModalityError, match='hsi 12x20, lidar 10x20'):
        Trento(str(tmp_path))
    write_mat_v5(str(tmp_path / 'LiDAR.mat'),
                 {'LiDAR': np.zeros(SMALL_SIZE, np.float32)})
    write_mat_v5(str(tmp_path / 'TSLabel.mat'),
                 {'TSLabel': np.zeros((5, 5), np.uint8)})
    with pytest.raises(ModalityError, match='test labels map is 5x5'):
        Trento(str(tmp_path))


def test_bad_label_maps(tmp_path, scene_writer):
    arrays = scene_writer(str(tmp_path), Trento)
    write_mat_v5(str(tmp_path / 'TSLabel.mat'),
                 {'TSLabel': np.full(SMALL_SIZE, 7, np.uint8)})
    with pytest.raises(ValueError, match='label 7 but Trento has 6'):
        Trento(str(tmp_path))
    write_mat_v5(str(tmp_path / 'TSLabel.mat'), {'TSLabel': arrays['train']})
    with pytest.raises(ValueError, match='share'):
        Trento(str(tmp_path))


def test_sampled_split_arguments(tmp_path, scene_writer):
    arrays = scene_writer(str(tmp_path), PaviaUniversity)
    a = PaviaUniversity(str(tmp_path), train_per_class=2, seed=5)
    b = PaviaUniversity(str(tmp_path), train_per_class=2, seed=5)
    np.testing.assert_array_equal(a.label_maps['train'], b.label_maps['train'])
    assert a.class_counts('train').tolist() == [2] * 9
    # Fixed maps instead of sampling.
    train = np.where(arrays['gt'] == 1, 1, 0).astype(np.uint8)
    test = np.where(arrays['gt'] == 2, 2, 0).astype(np.uint8)
    write_mat_v5(str(tmp_path / 'tr.mat'), {'TRLabel': train})
    write_mat_v5(str(tmp_path / 'ts.mat'), {'TSLabel': test})
    fixed = PaviaUniversity(str(tmp_path), split_files=('tr.mat', 'ts.mat'))
    np.testing.assert_array_equal(fixed.label_maps['test'], test)
    with pytest.raises(ValueError, match='standard split'):
        Houston2013(str(tmp_path), train_per_class=3)


def test_download_uses_the_public_urls(tmp_path, scene_writer, monkeypatch):
    source = tmp_path / 'source'
    source.mkdir()
    scene_writer(str(source), Botswana)
    calls = []

    def fake_download(url, root, filename=None, md5=None):
        calls.append(url)
        os.makedirs(root, exist_ok=True)
        with open(source / filename, 'rb') as src, \
                open(osp.join(root, filename), 'wb') as dst:
            dst.write(src.read())

    monkeypatch.setattr(scene, 'download_url', fake_download)
    ds = Botswana(str(tmp_path / 'data'), download=True)
    assert sorted(calls) == sorted(Botswana.urls.values())
    assert all(u.startswith('https://www.ehu.eus/ccwintco/') for u in calls)
    assert ds[0]['image'].shape[0] == 145


def test_checksum(tmp_path, scene_writer):
    scene_writer(str(tmp_path), IndianPines)
    IndianPines(str(tmp_path), checksum=False)
    with pytest.raises(RasterReadError, match='md5'):
        IndianPines(str(tmp_path), checksum=True)


def test_plot_and_str(tmp_path, scene_writer):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    scene_writer(str(tmp_path), Houston2013)
    ds = Houston2013(str(tmp_path))
    sample = ds[0]
    sample['prediction'] = sample['mask'].clone()
    fig = ds.plot(sample, suptitle='x')
    assert len(fig.axes) == 3
    plt.close(fig)
    assert 'hsi 144 + lidar 1' in str(ds)


def test_not_found_error_survives_pickling(tmp_path):
    import pickle
    with pytest.raises(MissingDataError) as info:
        Trento(str(tmp_path))
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, DatasetNotFoundError)
    assert str(copy) == str(info.value) and copy.missing == info.value.missing


def test_salinas_reads_the_uncorrected_224_band_cube(tmp_path):
    gt = np.zeros(SMALL_SIZE, np.uint8)
    gt[:2, :16] = np.arange(1, 17)
    write_mat_v5(str(tmp_path / 'Salinas_gt.mat'), {'salinas_gt': gt})
    cube = np.random.default_rng(0).random((*SMALL_SIZE, 224))
    write_mat_v5(str(tmp_path / 'Salinas.mat'),
                 {'salinas': cube.astype(np.float32)})
    ds = Salinas(str(tmp_path), band_counts=dict(hsi=224), train_per_class=1)
    assert ds[0]['image'].shape == (224, ) + SMALL_SIZE
    assert ds.class_counts('train').tolist() == [1] * 16
    with pytest.raises(ModalityError, match='224 bands'):
        Salinas(str(tmp_path))
