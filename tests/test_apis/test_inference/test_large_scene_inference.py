"""End-to-end large-scene inference on generated georeferenced GeoTIFFs.

The probe model (see conftest) is per-pixel, so each tile's logits equal the
whole-image logits at every pixel and the blended tiled map must equal one
whole-image forward; the reference forward here normalises the full arrays
with NumPy on its own, independent of the streaming statistics and tiling.
"""
import numpy as np
import pytest
import rasterio
import torch
from fake_data.isprs_tiles import write_scene_raster
from inference_helpers import (
    potsdam_contract,
    probe_config_dict,
    trained_on,
    write_config_file,
)

from m3plugins.apis.large_scene_inference import (
    infer_large_scene,
    load_segmentor,
    segment_windows,
)
from m3plugins.io import CLASS_MAP_NODATA, RasterAlignmentError
from m3plugins.utils.modalities import ModalityError

# The probe models here have no checkpoint, hence no data contract: they
# run on the config's (see test_checkpoint_contract.py for both cases).
pytestmark = pytest.mark.filterwarnings(
    'ignore:The checkpoint has no data contract:UserWarning')


def whole_image_logits(model, optical, dsm):
    """One forward over the whole scene, normalised like the dataset.

    Optical raw, DSM min-max over the scene.
    """
    dsm01 = (dsm - dsm.min()) / (dsm.max() - dsm.min())
    stacked = np.concatenate(
        [optical.astype(np.float32), dsm01[..., None].astype(np.float32)],
        axis=-1)
    return segment_windows(model, [stacked])[0]


def test_tiled_map_equals_whole_image_forward(probe_model, scene_pair,
                                              tmp_path):
    rasters, (optical, dsm) = scene_pair
    result = infer_large_scene(
        probe_model, rasters, str(tmp_path / 'map.tif'), tile_size=64,
        overlap=16, batch_size=3, save_probabilities=True, progress=False)
    assert result.num_tiles == 3 * 4  # rows 0,48,86; cols 0,48,96,106
    assert result.tile_size == (64, 64) and result.overlap == (16, 16)
    assert result.normalization == dict(optical='none', dsm='minmax')
    assert result.georeferenced
    expected_logits = whole_image_logits(probe_model, optical, dsm)
    expected = expected_logits.argmax(0)
    # The ISPRS dataset's own reader gives the same whole-tile input.
    np.testing.assert_allclose(
        dataset_reference_logits(probe_model, rasters['optical'],
                                 rasters['dsm']),
        expected_logits, atol=1e-5)
    with rasterio.open(result.class_map) as src:
        class_map = src.read(1)
    assert class_map.shape == (150, 170)
    assert len(np.unique(expected)) > 1  # a map worth comparing
    np.testing.assert_array_equal(class_map, expected)
    # The probabilities are the softmax of the blended logits.
    with rasterio.open(result.probabilities) as src:
        probabilities = src.read()
    softmax = torch.softmax(torch.from_numpy(expected_logits), 0).numpy()
    np.testing.assert_allclose(probabilities, softmax, atol=1e-5)


def test_output_georeferencing_is_copied_exactly(probe_model, scene_pair,
                                                 tmp_path):
    rasters, _ = scene_pair
    result = infer_large_scene(
        probe_model, rasters, str(tmp_path / 'out' / 'map.tif'),
        tile_size=64, overlap=8, save_probabilities=True, progress=False)
    with rasterio.open(rasters['optical']) as reference:
        for path, count, dtype in ((result.class_map, 1, 'uint8'),
                                   (result.probabilities, 6, 'float32')):
            with rasterio.open(path) as out:
                assert out.crs == reference.crs
                assert out.crs.to_epsg() == 32632
                assert out.transform == reference.transform
                assert (out.height, out.width) == (150, 170)
                assert out.count == count and out.dtypes[0] == dtype
    with rasterio.open(result.class_map) as out:
        assert out.nodata == CLASS_MAP_NODATA


def test_probabilities_sum_to_one_and_uint8_scaling(probe_model, scene_pair,
                                                    tmp_path):
    rasters, _ = scene_pair
    result = infer_large_scene(
        probe_model, rasters, str(tmp_path / 'map.tif'), tile_size=48,
        overlap=12, save_probabilities=True, probability_dtype='uint8',
        probabilities_path=str(tmp_path / 'p8.tif'), save_preview=False,
        progress=False)
    assert result.preview is None
    with rasterio.open(tmp_path / 'p8.tif') as src:
        stored = src.read()
        assert src.dtypes[0] == 'uint8'
    assert np.abs(stored.astype(int).sum(0) - 255).max() <= 3
    float_result = infer_large_scene(
        probe_model, rasters, str(tmp_path / 'mapf.tif'), tile_size=48,
        overlap=12, save_probabilities=True, save_preview=False,
        progress=False)
    with rasterio.open(float_result.probabilities) as src:
        probabilities = src.read()
    np.testing.assert_allclose(probabilities.sum(0), 1, atol=1e-5)
    assert (probabilities >= 0).all()
    # uint8 is round(255 p) of the float32 probabilities.
    assert np.abs(stored.astype(int) -
                  np.rint(probabilities * 255).astype(int)).max() <= 1


def test_preview_png_with_legend_and_class_offset(probe_model, scene_pair,
                                                  tmp_path):
    import matplotlib.image
    rasters, _ = scene_pair
    result = infer_large_scene(
        probe_model, rasters, str(tmp_path / 'map.tif'), tile_size=64,
        class_offset=1, progress=False)
    assert result.preview == str(tmp_path / 'map.png')
    image = matplotlib.image.imread(result.preview)
    assert image.ndim == 3 and image.shape[0] >= 150
    # The legend makes the figure wider than the map.
    assert image.shape[1] > 170
    assert result.classes[:2] == ('impervious_surfaces', 'building')
    with rasterio.open(result.class_map) as src:
        values = np.unique(src.read(1))
    assert values.min() >= 1 and values.max() <= 6


def test_misaligned_inputs_are_rejected_before_any_output(
        probe_model, scene_pair, tmp_path):
    rasters, (_, dsm) = scene_pair
    shifted = write_scene_raster(tmp_path / 'dsm_shifted.tif', dsm,
                                 origin=(500010.0, 5400000.0))
    with pytest.raises(RasterAlignmentError, match='dsm_shifted.tif'):
        infer_large_scene(probe_model, dict(rasters, dsm=shifted),
                          str(tmp_path / 'never.tif'), progress=False)
    other_crs = write_scene_raster(tmp_path / 'dsm_wgs.tif', dsm,
                                   crs='EPSG:4326')
    with pytest.raises(RasterAlignmentError, match='CRS'):
        infer_large_scene(probe_model, dict(rasters, dsm=other_crs),
                          str(tmp_path / 'never.tif'), progress=False)
    cropped = write_scene_raster(tmp_path / 'dsm_crop.tif', dsm[:, :166])
    with pytest.raises(RasterAlignmentError, match='150x166'):
        infer_large_scene(probe_model, dict(rasters, dsm=cropped),
                          str(tmp_path / 'never.tif'), progress=False)
    assert not (tmp_path / 'never.tif').exists()


def dataset_reference_logits(model, optical_path, dsm_path):
    """Whole-tile forward on the ISPRS dataset's own reading of the tile."""
    from m3plugins.datasets.isprs.tiles import TileFiles, read_tile
    tile = read_tile(TileFiles('t', optical_path, dsm_path),
                     with_label=False)
    stacked = np.concatenate([tile['optical'], tile['dsm'][..., None]], -1)
    return segment_windows(model, [stacked])[0]


def test_matches_the_isprs_dataset_reading_including_dsm_nodata(
        probe_model, scene_pair, tmp_path):
    """DSM nodata is handled exactly as the ISPRS dataset reads a tile.

    Nodata (declared value and NaN) is left out of the statistics and set
    to 0 after scaling.
    """
    rasters, (_, dsm) = scene_pair
    holed = dsm.copy()
    holed[10:20, 30:45] = -9999.0
    holed[100, 100] = np.nan
    dsm_path = write_scene_raster(tmp_path / 'dsm_nodata.tif', holed,
                                  nodata=-9999.0)
    result = infer_large_scene(
        probe_model, dict(rasters, dsm=dsm_path), str(tmp_path / 'map.tif'),
        tile_size=64, overlap=16, save_preview=False, progress=False)
    assert result.nodata_fill == dict(dsm=0.0)
    expected = dataset_reference_logits(probe_model, rasters['optical'],
                                        dsm_path).argmax(0)
    with rasterio.open(result.class_map) as src:
        np.testing.assert_array_equal(src.read(1), expected)


def test_potsdam_dsm_one_column_short_is_edge_padded_like_the_dataset(
        probe_model, scene_pair, tmp_path):
    """A DSM one column short is edge-padded as the ISPRS dataset does.

    Potsdam's dsm_potsdam_03_13.tif is one column short: the ISPRS dataset
    (dsm_edge_padding, default 1 for Potsdam) repeats its last column, and
    so does inference; two columns short is an error.
    """
    from m3plugins.datasets.isprs.tiles import TileFiles, read_tile
    rasters, (_, dsm) = scene_pair
    short = write_scene_raster(tmp_path / 'dsm_short.tif', dsm[:, :-1])
    result = infer_large_scene(
        probe_model, dict(rasters, dsm=short), str(tmp_path / 'map.tif'),
        tile_size=64, overlap=16, save_preview=False, progress=False)
    assert (result.height, result.width) == (150, 170)
    tile = read_tile(TileFiles('t', rasters['optical'], short),
                     with_label=False, dsm_edge_padding=1)
    stacked = np.concatenate([tile['optical'], tile['dsm'][..., None]], -1)
    expected = segment_windows(probe_model, [stacked])[0].argmax(0)
    with rasterio.open(result.class_map) as src:
        np.testing.assert_array_equal(src.read(1), expected)
    shorter = write_scene_raster(tmp_path / 'dsm_shorter.tif', dsm[:, :-2])
    with pytest.raises(RasterAlignmentError,
                       match=r"(?s)'dsm'.*dsm_shorter.tif.*150x168.*up to 1"):
        infer_large_scene(probe_model, dict(rasters, dsm=shorter),
                          str(tmp_path / 'never.tif'), progress=False)


def test_nan_in_a_modality_without_nodata_filling_is_named(
        probe_model, scene_pair, tmp_path):
    rasters, (optical, _) = scene_pair
    holed = optical.astype(np.float32)
    holed[100, 100, 1] = np.nan
    rasters = dict(rasters,
                   optical=write_scene_raster(tmp_path / 'nan.tif', holed))
    with pytest.raises(ValueError, match="'optical'.*NaN"):
        infer_large_scene(probe_model, rasters, str(tmp_path / 'map.tif'),
                          tile_size=64, progress=False)


def test_bad_tiling_arguments(probe_model, scene_pair, tmp_path):
    rasters, _ = scene_pair
    with pytest.raises(ValueError, match='overlap < tile_size'):
        infer_large_scene(probe_model, rasters, str(tmp_path / 'm.tif'),
                          tile_size=32, overlap=32, progress=False)
    with pytest.raises(ValueError, match='batch_size'):
        infer_large_scene(probe_model, rasters, str(tmp_path / 'm.tif'),
                          batch_size=0, progress=False)


def test_dumped_config_with_reordered_modalities_is_rejected(tmp_path):
    """A dumped config whose modality order is not the dataset's fails.

    Mmengine's Config.dump sorts dict keys: the modality_channels of a
    dumped config no longer match the dataset's stacking order, and the
    error names both layouts instead of stacking the modalities wrongly.
    """
    from mmengine.config import Config
    cfg = probe_config_dict()
    cfg.dump(str(tmp_path / 'dumped.py'))
    dumped = Config.fromfile(str(tmp_path / 'dumped.py'))
    model = trained_on(load_segmentor(dumped, device='cpu'),
                       potsdam_contract())
    optical = np.zeros((8, 8, 3), np.uint8)
    paths = dict(optical=write_scene_raster(tmp_path / 'o.tif', optical),
                 dsm=write_scene_raster(tmp_path / 'd.tif',
                                        np.ones((8, 8), np.float32)))
    with pytest.raises(ModalityError,
                       match=r'(?s)optical=3, dsm=1.*dsm=1, optical=3'):
        infer_large_scene(model, paths, str(tmp_path / 'm.tif'),
                          save_preview=False, progress=False)
    assert not (tmp_path / 'm.tif').exists()


def load_infer_tool(repo_root):
    """tools/infer.py as a module (tools/ is not a package)."""
    import importlib.util
    import os.path as osp
    spec = importlib.util.spec_from_file_location(
        'm3plugins_tools_infer', osp.join(repo_root, 'tools', 'infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_with_checkpoint_matches_the_api(scene_pair, tmp_path,
                                             repo_root):
    """tools/infer.py: config file + checkpoint written by this test."""
    main = load_infer_tool(repo_root).main
    rasters, _ = scene_pair
    cfg = probe_config_dict()
    torch.manual_seed(3)
    model = load_segmentor(cfg, device='cpu')
    checkpoint = tmp_path / 'probe.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(
        dataset_meta=potsdam_contract().to_metainfo())), checkpoint)
    trained_on(model, potsdam_contract())
    config_file = write_config_file(cfg, tmp_path / 'probe_cfg.py')
    out = tmp_path / 'cli' / 'map.tif'
    status = main([
        str(config_file), str(checkpoint), '--modality',
        f'optical={rasters["optical"]}', '--modality',
        f'dsm={rasters["dsm"]}', '--out', str(out), '--tile-size', '64',
        '--overlap', '16', '--batch-size', '2', '--device', 'cpu',
        '--save-probs', '--no-progress'
    ])
    assert status == 0
    assert (tmp_path / 'cli' / 'map_probs.tif').is_file()
    assert (tmp_path / 'cli' / 'map.png').is_file()
    api = infer_large_scene(model, rasters, str(tmp_path / 'api.tif'),
                            tile_size=64, overlap=16, save_preview=False,
                            progress=False)
    with rasterio.open(out) as cli_map, rasterio.open(api.class_map) as ref:
        np.testing.assert_array_equal(cli_map.read(), ref.read())
    # Misaligned input: exit status 2 and the offending file named.
    status = main([
        str(config_file), str(checkpoint), '--modality',
        f'optical={rasters["optical"]}', '--modality',
        f'dsm={rasters["optical"]}', '--out', str(tmp_path / 'bad.tif'),
        '--no-progress'
    ])
    assert status == 2
