"""Opening one raster per modality: formats, windows and alignment checks."""
import numpy as np
import pytest
from fake_data.hsi_scene_files import write_mat_v5
from fake_data.isprs_tiles import (
    ORIGIN,
    PIXEL,
    make_scene,
    write_scene_raster,
)

from m3plugins.apis.scene_normalization import streaming_band_statistics
from m3plugins.datasets.normalization import band_statistics
from m3plugins.io.georeference import RasterAlignmentError
from m3plugins.io.modality_rasters import open_modality_rasters
from m3plugins.io.raster_reading import RasterReadError, split_mat_key

CHANNELS = dict(optical=3, dsm=1)


@pytest.fixture
def pair(tmp_path):
    optical, dsm = make_scene(40, 50)
    return tmp_path, optical, dsm, dict(
        optical=write_scene_raster(tmp_path / 'optical.tif', optical),
        dsm=write_scene_raster(tmp_path / 'dsm.tif', dsm))


def test_aligned_geotiffs_read_windows_in_model_order(pair):
    _, optical, dsm, paths = pair
    # Given in the other order: the stack follows modality_channels.
    with open_modality_rasters(dict(dsm=paths['dsm'],
                                    optical=paths['optical']),
                               CHANNELS) as scene:
        assert list(scene.rasters) == ['optical', 'dsm']
        assert (scene.height, scene.width) == (40, 50)
        assert scene.crs.to_epsg() == 32632
        assert tuple(scene.transform)[:6] == (PIXEL, 0, ORIGIN[0], 0,
                                              -PIXEL, ORIGIN[1])
        window = scene.read(5, 7, 10, 20)
        np.testing.assert_array_equal(window['optical'],
                                      optical[5:15, 7:27])
        np.testing.assert_array_equal(window['dsm'][..., 0], dsm[5:15, 7:27])


def test_size_mismatch_names_both_modalities_and_files(pair):
    tmp_path, optical, dsm, paths = pair
    paths['dsm'] = write_scene_raster(tmp_path / 'dsm_small.tif', dsm[:39])
    with pytest.raises(RasterAlignmentError) as err:
        open_modality_rasters(paths, CHANNELS)
    message = str(err.value)
    assert "'dsm'" in message and 'dsm_small.tif' in message
    assert '39x50' in message and '40x50' in message


def test_shifted_transform_is_rejected(pair):
    tmp_path, optical, dsm, paths = pair
    paths['dsm'] = write_scene_raster(
        tmp_path / 'dsm_shifted.tif', dsm,
        origin=(ORIGIN[0] + PIXEL, ORIGIN[1]))
    with pytest.raises(RasterAlignmentError,
                       match=r"(?s)'dsm'.*dsm_shifted.tif.*transform"):
        open_modality_rasters(paths, CHANNELS)


def test_sub_pixel_float_noise_in_the_transform_is_accepted(pair):
    tmp_path, optical, dsm, paths = pair
    paths['dsm'] = write_scene_raster(
        tmp_path / 'dsm_noise.tif', dsm,
        origin=(ORIGIN[0] + 1e-7, ORIGIN[1]))
    with open_modality_rasters(paths, CHANNELS) as scene:
        assert scene.width == 50


def test_other_crs_is_rejected(pair):
    tmp_path, optical, dsm, paths = pair
    paths['dsm'] = write_scene_raster(tmp_path / 'dsm_33n.tif', dsm,
                                 crs='EPSG:32633')
    with pytest.raises(RasterAlignmentError,
                       match=r"(?s)'dsm'.*dsm_33n.tif.*CRS"):
        open_modality_rasters(paths, CHANNELS)


def test_band_count_against_the_config(pair):
    tmp_path, optical, dsm, paths = pair
    paths['dsm'] = write_scene_raster(tmp_path / 'dsm2.tif',
                                 np.stack([dsm, dsm], -1))
    with pytest.raises(RasterAlignmentError,
                       match=r"(?s)'dsm'.*dsm2.tif.*dsm has 2 bands, the "
                       r"model expects 1 \(modality layout optical=3, "
                       r"dsm=1; total 5 vs 4\)"):
        open_modality_rasters(paths, CHANNELS)


def test_missing_and_unknown_modalities(pair):
    _, _, _, paths = pair
    with pytest.raises(RasterAlignmentError, match=r"No raster.*'dsm'"):
        open_modality_rasters(dict(optical=paths['optical']), CHANNELS)
    with pytest.raises(RasterAlignmentError, match=r"unknown.*'lidar'"):
        open_modality_rasters(dict(paths, lidar=paths['dsm']), CHANNELS)


def test_missing_and_corrupt_files(pair):
    tmp_path, _, _, paths = pair
    with pytest.raises(FileNotFoundError, match=r"'dsm'.*nowhere.tif"):
        open_modality_rasters(dict(paths, dsm=str(tmp_path / 'nowhere.tif')),
                              CHANNELS)
    corrupt = tmp_path / 'corrupt.tif'
    corrupt.write_bytes(b'II*\x00 not a tiff')
    with pytest.raises(RasterReadError, match=r"corrupt.tif.*'dsm'"):
        open_modality_rasters(dict(paths, dsm=str(corrupt)), CHANNELS)


def test_mat_and_npy_rasters_align_with_a_geotiff_by_size(tmp_path):
    """Scene .mat files (v5; key by modality name or ``:KEY``) and .npy."""
    cube = np.random.default_rng(1).random((30, 20, 5)).astype(np.float32)
    lidar = np.random.default_rng(2).random((30, 20)).astype(np.float32)
    write_mat_v5(str(tmp_path / 'scene.mat'), dict(hsi=cube, other=lidar))
    write_mat_v5(str(tmp_path / 'lidar.mat'), dict(LiDAR=lidar))
    np.save(tmp_path / 'sar.npy', cube[..., :2])
    channels = dict(hsi=5, lidar=1, sar=2)
    with open_modality_rasters(
            dict(hsi=str(tmp_path / 'scene.mat'),
                 lidar=f'{tmp_path / "lidar.mat"}:LiDAR',
                 sar=str(tmp_path / 'sar.npy')), channels) as scene:
        assert scene.crs is None and scene.transform is None
        window = scene.read(3, 4, 5, 6)
        np.testing.assert_array_equal(window['hsi'], cube[3:8, 4:10])
        np.testing.assert_array_equal(window['lidar'][..., 0],
                                      lidar[3:8, 4:10])
        np.testing.assert_array_equal(window['sar'], cube[3:8, 4:10, :2])
    # A georeferenced GeoTIFF beside a .mat of another size is rejected.
    write_scene_raster(tmp_path / 'lidar.tif', lidar[:, :19])
    with pytest.raises(RasterAlignmentError, match='30x19'):
        open_modality_rasters(
            dict(hsi=str(tmp_path / 'scene.mat'),
                 lidar=str(tmp_path / 'lidar.tif'),
                 sar=str(tmp_path / 'sar.npy')), channels)


def test_split_mat_key():
    assert split_mat_key('a/scene.mat:HSI') == ('a/scene.mat', 'HSI')
    assert split_mat_key('a/scene.mat') == ('a/scene.mat', None)
    assert split_mat_key('C:/data/x.tif') == ('C:/data/x.tif', None)


def test_streaming_statistics_equal_whole_raster_statistics(pair):
    _, optical, _, paths = pair
    with open_modality_rasters(paths, CHANNELS) as scene:
        # A budget of 3 rows' float64 copies: 14 blocks over 40 rows.
        streamed = streaming_band_statistics(
            scene.rasters['optical'], block_bytes=3 * 50 * 3 * 8)
    whole = band_statistics(optical)
    np.testing.assert_array_equal(streamed.minimum, whole.minimum)
    np.testing.assert_array_equal(streamed.maximum, whole.maximum)
    np.testing.assert_allclose(streamed.mean, whole.mean, rtol=1e-10)
    np.testing.assert_allclose(streamed.std, whole.std, rtol=1e-8)
