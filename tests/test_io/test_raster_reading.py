"""Whole reads and georeferences of raster files.

read_raster: MATLAB v5 / v7.3, GeoTIFF, .npy, keys and failure messages;
read_georeference: a GeoTIFF's transform and CRS.

Moved here from the HSI dataset tests with the readers (m3plugins.io).
"""
import os.path as osp
import warnings

import numpy as np
import pytest
import rasterio
from fake_data.hsi_scene_files import (
    write_mat_v5,
    write_mat_v73,
    write_scene_geotiff,
)
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from scipy.io import savemat

from m3plugins.io.georeference import Georeference, read_georeference
from m3plugins.io.raster_reading import (
    RasterReadError,
    list_mat_keys,
    read_raster,
)

UTM15N = CRS.from_epsg(32615)  # Houston


@pytest.fixture
def cube():
    return np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)


def test_mat_v5_and_v73_give_the_same_array(tmp_path, cube):
    v5 = write_mat_v5(str(tmp_path / 'v5.mat'), {'HSI': cube})
    v73 = write_mat_v73(str(tmp_path / 'v73.mat'), {'HSI': cube})
    a, b = read_raster(v5, 'HSI'), read_raster(v73, 'HSI')
    assert a.shape == b.shape == (4, 5, 3)
    np.testing.assert_array_equal(a, cube)
    np.testing.assert_array_equal(b, cube)
    labels = np.arange(20, dtype=np.uint8).reshape(4, 5)
    write_mat_v73(str(tmp_path / 'gt.mat'), {'gt': labels})
    np.testing.assert_array_equal(read_raster(tmp_path / 'gt.mat'), labels)


def test_key_selection(tmp_path, cube):
    path = write_mat_v5(str(tmp_path / 'two.mat'),
                        {'a': cube, 'b': cube[..., 0]})
    assert read_raster(path, 'b').shape == (4, 5)
    assert read_raster(path, ('missing', 'a')).shape == (4, 5, 3)
    assert list_mat_keys(path) == ['a', 'b']
    with pytest.raises(RasterReadError,
                       match=r"no variable 'c'.*\['a', 'b'\]"):
        read_raster(path, 'c')
    with pytest.raises(RasterReadError, match='pass `key`'):
        read_raster(path)
    single = write_mat_v5(str(tmp_path / 'one.mat'), {'whatever': cube})
    # None in the accepted keys means "the only variable".
    assert read_raster(single, ('HSI', None)).shape == (4, 5, 3)
    with pytest.raises(RasterReadError, match="no variable 'HSI'"):
        read_raster(single, 'HSI')


def test_geotiff_bands_last_and_single_band_2d(tmp_path, cube):
    np.testing.assert_array_equal(
        read_raster(write_scene_geotiff(str(tmp_path / 'c.tif'), cube)), cube)
    one = read_raster(
        write_scene_geotiff(str(tmp_path / 'o.tif'), cube[..., 0]))
    assert one.shape == (4, 5)


def test_npy(tmp_path, cube):
    np.save(tmp_path / 'c.npy', cube)
    np.testing.assert_array_equal(read_raster(tmp_path / 'c.npy'), cube)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.mat'):
        read_raster(tmp_path / 'nope.mat')


@pytest.mark.parametrize('name', ['bad.mat', 'bad.tif', 'bad.npy'])
def test_corrupt_file_is_a_clear_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b'this is not a raster at all' * 10)
    with pytest.raises(RasterReadError, match=name):
        read_raster(path)


def test_truncated_v73_file(tmp_path, cube):
    path = write_mat_v73(str(tmp_path / 'cut.mat'), {'HSI': cube})
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:700])
    with pytest.raises(RasterReadError, match='cut.mat'):
        read_raster(path)


def test_unknown_type_wrong_rank_and_struct(tmp_path, cube):
    (tmp_path / 'x.bin').write_bytes(b'0')
    with pytest.raises(RasterReadError, match='Unknown raster type'):
        read_raster(tmp_path / 'x.bin')
    np.save(tmp_path / 'four.npy', cube[None])
    with pytest.raises(RasterReadError, match=r'expected \(H, W\)'):
        read_raster(tmp_path / 'four.npy')
    savemat(str(tmp_path / 's.mat'), {'s': {'a': 1, 'b': 2}})
    with pytest.raises(RasterReadError, match='struct'):
        read_raster(tmp_path / 's.mat')


def test_georeference_of_a_geotiff(tmp_path, cube):
    transform = Affine(2.5, 0.0, 271460.0, 0.0, -2.5, 3290891.0)
    path = write_scene_geotiff(str(tmp_path / 'geo.tif'), cube,
                               (transform, UTM15N))
    geo = read_georeference(path)
    assert isinstance(geo, Georeference)
    assert geo.transform == transform and geo.crs == UTM15N
    with rasterio.open(path) as src:  # what rasterio itself reads back
        assert geo == (src.transform, src.crs)
    # The pixel data are unaffected.
    np.testing.assert_array_equal(read_raster(path), cube)


def test_no_georeference(tmp_path, cube):
    v5 = write_mat_v5(str(tmp_path / 'c.mat'), {'HSI': cube})
    np.save(tmp_path / 'c.npy', cube)
    no_crs = write_scene_geotiff(str(tmp_path / 'no_crs.tif'), cube)
    identity = str(tmp_path / 'identity.tif')
    with warnings.catch_warnings():  # rasterio warns writing such grids
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(identity, 'w', driver='GTiff', height=4, width=5,
                           count=1, dtype='uint8') as dst:
            dst.write(np.ones((1, 4, 5), np.uint8))
        crs_only = write_scene_geotiff(str(tmp_path / 'crs_only.tif'),
                                       cube, (Affine.identity(), UTM15N))
    with warnings.catch_warnings():
        warnings.simplefilter('error', NotGeoreferencedWarning)
        for path in (v5, tmp_path / 'c.npy', no_crs, identity, crs_only):
            assert read_georeference(path) is None, path


def test_georeference_failures(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.tif'):
        read_georeference(tmp_path / 'nope.tif')
    with pytest.raises(FileNotFoundError, match='nope.mat'):
        read_georeference(tmp_path / 'nope.mat')
    bad = tmp_path / 'bad.tif'
    bad.write_bytes(b'this is not a raster at all' * 10)
    with pytest.raises(RasterReadError, match='bad.tif'):
        read_georeference(bad)
    odd = tmp_path / 'x.bmp'
    odd.write_bytes(b'')
    with pytest.raises(RasterReadError, match='Unknown raster type'):
        read_georeference(odd)


def test_real_v5_and_v73_ground_truth(shared_data):
    ip = read_raster(osp.join(shared_data, 'hsi_gt', 'Indian_pines_gt.mat'))
    assert ip.shape == (145, 145) and int((ip > 0).sum()) == 10249
    pu = read_raster(osp.join(shared_data, 'hsi_gt', 'PaviaU_gt.mat'), 'gt')
    assert pu.shape == (610, 340)
    assert np.bincount(pu.ravel())[1:].tolist() == [
        6631, 18649, 2099, 3064, 1345, 5029, 1330, 3682, 947]
    tif = read_raster(osp.join(shared_data, 'houston2013',
                               '2013_IEEE_GRSS_DF_Contest_Samples_TR.tif'))
    mat = read_raster(osp.join(shared_data, 'houston2013', 'TRLabel.mat'))
    np.testing.assert_array_equal(tif, mat)
