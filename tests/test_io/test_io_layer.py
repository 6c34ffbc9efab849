"""The raster I/O layer (m3plugins.io) on tiny generated files.

Windowed reads, headers, one alignment tolerance, one missing-data report
and atomic map writing.
"""
import os
import pickle

import numpy as np
import pytest
from fake_data.hsi_scene_files import write_mat_v5, write_mat_v73
from rasterio.transform import Affine
from torchgeo.datasets import DatasetNotFoundError

from m3plugins.io import (
    ALIGNMENT_TOLERANCE_PIXELS,
    Georeference,
    MissingDataError,
    ModalityRaster,
    RasterAlignmentError,
    RasterReadError,
    check_co_registration,
    locate_files,
    missing_data_report,
    read_raster,
    read_raster_header,
    write_class_map,
    write_geotiff,
)
from m3plugins.utils.atomic_write import is_atomic_write_temp

PIXEL = 2.0
GRID = Affine(PIXEL, 0.0, 1000.0, 0.0, -PIXEL, 5000.0)
UTM = 'EPSG:32632'


@pytest.fixture
def cube():
    return np.arange(6 * 7 * 3, dtype=np.float32).reshape(6, 7, 3)


def test_whole_and_windowed_reads_agree(tmp_path, cube):
    tif = write_geotiff(tmp_path / 'c.tif', cube, transform=GRID, crs=UTM)
    np.save(tmp_path / 'c.npy', cube)
    mat = write_mat_v5(str(tmp_path / 'c.mat'), {'hsi': cube})
    for path in (tif, str(tmp_path / 'c.npy'), mat):
        np.testing.assert_array_equal(read_raster(path, 'hsi'), cube)
        raster = ModalityRaster('hsi', path)
        window = raster.read(2, 3, 3, 4)
        raster.close()
        np.testing.assert_array_equal(window, cube[2:5, 3:7])


def test_window_past_the_edge_repeats_the_last_row_and_column(tmp_path,
                                                              cube):
    raster = ModalityRaster('dsm', write_geotiff(tmp_path / 'd.tif', cube))
    window = raster.read(4, 5, 3, 3)
    raster.close()
    expected = np.pad(cube, ((0, 1), (0, 1), (0, 0)), mode='edge')[4:, 5:]
    np.testing.assert_array_equal(window, expected)


def test_nodata_becomes_nan_when_asked(tmp_path):
    dsm = np.array([[1.0, -9999.0], [3.0, 4.0]], np.float32)
    path = write_geotiff(tmp_path / 'dsm.tif', dsm, nodata=-9999.0)
    plain = read_raster(path)
    assert plain[0, 1] == -9999.0
    masked = read_raster(path, nodata_as_nan=True)
    assert masked.dtype == np.float32 and np.isnan(masked[0, 1])
    assert masked[1, 1] == 4.0


def test_header_reports_shape_dtype_and_georeference(tmp_path, cube):
    tif = write_geotiff(tmp_path / 'c.tif', cube.astype(np.uint16),
                        transform=GRID, crs=UTM)
    header = read_raster_header(tif, check_truncation=True)
    assert header.shape == (6, 7, 3) and header.dtype == np.uint16
    assert header.georeference.transform == GRID
    assert header.georeference.crs.to_epsg() == 32632
    one_band = read_raster_header(write_geotiff(tmp_path / 'o.tif',
                                                cube[..., 0]))
    assert one_band.shape == (6, 7) and one_band.georeference is None
    v73 = read_raster_header(
        write_mat_v73(str(tmp_path / 'c.mat'), {'HSI': cube}), 'HSI')
    assert v73.shape == (6, 7, 3) and v73.dtype == np.float32
    v5 = read_raster_header(
        write_mat_v5(str(tmp_path / 'c5.mat'), {'HSI': cube}), 'HSI')
    assert v5.shape == (6, 7, 3) and v5.dtype == np.float32


def test_truncated_geotiff_fails_the_header_check(tmp_path):
    image = np.random.default_rng(0).random((256, 256)).astype(np.float32)
    path = write_geotiff(tmp_path / 'big.tif', image, tiled=True,
                         blockxsize=64, blockysize=64)
    data = open(path, 'rb').read()
    with open(path, 'wb') as file:
        file.write(data[:len(data) // 2])
    assert read_raster_header(path).shape == (256, 256)  # header intact
    with pytest.raises(RasterReadError, match='big.tif'):
        read_raster_header(path, check_truncation=True)


def _shifted(pixels: float) -> Georeference:
    return Georeference(
        Affine(PIXEL, 0.0, 1000.0 + pixels * PIXEL, 0.0, -PIXEL, 5000.0),
        UTM)


def test_alignment_tolerance_on_both_sides_of_the_limit():
    reference = Georeference(GRID, UTM)
    inside = 0.5 * ALIGNMENT_TOLERANCE_PIXELS
    outside = 2 * ALIGNMENT_TOLERANCE_PIXELS
    assert check_co_registration(
        [('optical', 'o.tif', reference), ('dsm', 'd.tif', _shifted(inside)),
         ('label', 'l.png', None)]) == reference
    with pytest.raises(RasterAlignmentError) as info:
        check_co_registration([('optical', 'o.tif', reference),
                               ('dsm', 'd.tif', _shifted(outside))])
    message = str(info.value)
    for needle in ("'optical'", 'o.tif', "'dsm'", 'd.tif', '1000.0',
                   f'{1000.0 + outside * PIXEL}', 'Fix:'):
        assert needle in message, needle


def test_alignment_error_type_context_and_crs():
    other_crs = Georeference(GRID, 'EPSG:32633')
    with pytest.raises(ValueError, match=r"(?s)'hsi'.*a.tif.*'lidar'.*b.tif "
                       r'of scene X.*CRS EPSG:32632 vs EPSG:32633'):
        check_co_registration([('hsi', 'a.tif', Georeference(GRID, UTM)),
                               ('lidar', 'b.tif', other_crs)],
                              error_type=ValueError, context=' of scene X')
    assert check_co_registration([('hsi', 'a.mat', None)]) is None


def test_missing_data_report_lists_every_missing_file(tmp_path):
    (tmp_path / 'hsi.mat').write_bytes(b'')
    expected = {
        'hsi': [str(tmp_path / 'hsi.mat')],
        'lidar': [str(tmp_path / 'lidar.mat'), str(tmp_path / 'lidar.tif')],
        'train labels': [str(tmp_path / 'train.mat')],
        'test labels': [str(tmp_path / 'test.mat')],
    }
    found, missing = locate_files(expected)
    assert found == {'hsi': str(tmp_path / 'hsi.mat')}
    assert list(missing) == ['lidar', 'train labels', 'test labels']
    message = missing_data_report(
        'Scene', str(tmp_path), missing, obtain=['Get it from example.org'],
        layout=['hsi.mat', 'lidar.mat'], fix='put the files in root.',
        max_listed=2)
    lines = message.splitlines()
    assert lines[0] == (f'Scene not found in root={str(tmp_path)!r}: 3 '
                        'file(s) missing.')
    assert f'  lidar: {tmp_path}/lidar.mat or {tmp_path}/lidar.tif' in lines
    assert f'  train labels: {tmp_path}/train.mat' in lines
    assert '  ... and 1 more.' in lines
    assert 'Get it from example.org' in lines
    assert lines[-1] == 'Fix: put the files in root.'
    error = MissingDataError(message, missing=list(missing))
    assert isinstance(error, DatasetNotFoundError)
    assert isinstance(error, FileNotFoundError)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == message and copy.missing == list(missing)
    # mmengine's registry re-raises type(err)(text): the text survives.
    assert 'lidar.tif' in str(type(error)(f'class `X` in y: {error}'))


def test_class_map_writing_is_atomic(tmp_path, monkeypatch):
    class_map = np.array([[1, 2], [0, 1]])
    path = write_class_map(class_map, str(tmp_path / 'map'), 2,
                           dict(transform=GRID, crs=UTM))
    assert path.endswith('map.tif')
    np.testing.assert_array_equal(read_raster(path), class_map)
    before = open(path, 'rb').read()

    import rasterio

    def fail_midway(temp_path, *args, **kwargs):
        with open(temp_path, 'wb') as file:
            file.write(b'II*\x00partial')
        raise OSError('disk full (simulated)')

    monkeypatch.setattr(rasterio, 'open', fail_midway)
    with pytest.raises(OSError, match='disk full'):
        write_class_map(class_map + 1, str(tmp_path / 'map'), 3,
                        dict(transform=GRID, crs=UTM))
    assert open(path, 'rb').read() == before
    assert not [n for n in os.listdir(tmp_path) if is_atomic_write_temp(n)]
    npy = write_class_map(np.full((2, 3), 300), str(tmp_path / 'big'), 300)
    assert np.load(npy).dtype == np.uint16
