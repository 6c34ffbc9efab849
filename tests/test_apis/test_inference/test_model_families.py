"""Large-scene inference with the package's model families.

From their own configs made tiny with ``cfg_options`` (random weights, CPU).

Each family is tested where its configs exist in the tree; a family whose
config is absent is skipped with the path it looked for.
"""
import os.path as osp
import warnings

import numpy as np
import pytest
import rasterio
import torch
from fake_data.hsi_scene_files import write_mat_v5
from fake_data.isprs_tiles import make_scene, write_scene_raster
from inference_helpers import hsi_contract, potsdam_contract, trained_on
from rasterio.errors import NotGeoreferencedWarning

from m3plugins.apis.large_scene_inference import (
    infer_large_scene,
    load_segmentor,
    segment_windows,
)
from m3plugins.datasets.normalization import normalize

# Models with initial weights: no checkpoint, so no data contract; they run
# on their config's (test_checkpoint_contract.py checks the warning).
pytestmark = pytest.mark.filterwarnings(
    'ignore:The checkpoint has no data contract:UserWarning')


def family_config(repo_root, relative):
    path = osp.join(repo_root, 'configs', relative)
    if not osp.isfile(path):
        pytest.skip(f'{relative} is not in the tree yet')
    return path


def layout_option(config, layout):
    """``cfg_options`` giving the model ``layout``, where its config has it.

    The preprocessor's ``modality_channels``, else the segmentor's, else
    the backbone's (the places inference reads).
    """
    from mmengine.config import Config
    model = Config.fromfile(config).model
    for key in ('data_preprocessor', None, 'backbone'):
        owner = model if key is None else model.get(key, {})
        if owner.get('modality_channels', None):
            prefix = 'model.' if key is None else f'model.{key}.'
            return {f'{prefix}modality_channels': layout}
    raise AssertionError(f'{config} declares no modality_channels')


def hsi_scene(tmp_path, height=32, width=44, bands=12, seed=0):
    """A generated HSI cube (.mat v5, key 'hsi') + LiDAR (.npy)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cube = np.stack([
        np.sin(xx / (3 + b) + yy / 7) * (b + 1) for b in range(bands)
    ], -1).astype(np.float32) + rng.normal(0, 0.05, (height, width, bands))
    cube = (1000 + 500 * cube).astype(np.float32)
    lidar = (20 + 3 * np.cos(yy / 5) + rng.normal(0, 0.1, (height, width)))
    write_mat_v5(str(tmp_path / 'scene.mat'), dict(hsi=cube))
    np.save(tmp_path / 'lidar.npy', lidar.astype(np.float32))
    return (dict(hsi=str(tmp_path / 'scene.mat'),
                 lidar=str(tmp_path / 'lidar.npy')), cube,
            lidar.astype(np.float32))


def test_spectralmamba_pixelwise_tiles_equal_one_whole_scene_forward(
        repo_root, tmp_path):
    """Pixelwise SpectralMamba: tiled and whole-scene maps agree exactly.

    The pixelwise variant is per-pixel (every kernel 1x1), so tiled and
    whole-scene maps agree exactly; normalisation (per-band min-max over the
    scene for both modalities) and the legend come from the config's
    HSISceneDataset.
    """
    config = family_config(
        repo_root, 'spectralmamba/spectralmamba_pixelwise_houston2013.py')
    torch.manual_seed(0)
    model = load_segmentor(
        config, device='cpu',
        cfg_options={
            **layout_option(config, [('hsi', 12), ('lidar', 1)]),
            'model.backbone.embed_dims': 8,
            'model.backbone.depth': 1,
            'model.decode_head.in_channels': 8,
            'model.decode_head.channels': 8,
        })
    trained_on(model, hsi_contract([('hsi', 12), ('lidar', 1)]))
    rasters, cube, lidar = hsi_scene(tmp_path)
    with warnings.catch_warnings():
        # No georeferencing anywhere is expected, not warned about.
        warnings.simplefilter('error', NotGeoreferencedWarning)
        result = infer_large_scene(
            model, rasters, str(tmp_path / 'map.tif'), tile_size=20,
            overlap=6, batch_size=3, class_offset=1, progress=False)
    assert result.num_tiles == 2 * 3
    assert result.normalization == dict(hsi='minmax', lidar='minmax')
    assert result.num_classes == 15 and len(result.classes) == 15
    assert result.classes[0] != 'class 0'  # Houston2013's names
    whole = np.concatenate(
        [normalize(cube, 'minmax'),
         normalize(lidar, 'minmax')[..., None]], -1)
    expected = segment_windows(model, [whole])[0].argmax(0) + 1
    with rasterio.open(result.class_map) as src:
        class_map = src.read(1)
        assert src.crs is None  # no georeferenced input
    np.testing.assert_array_equal(class_map, expected)
    assert osp.isfile(result.preview)


def test_spectralmamba_patchwise_agrees_inside_the_receptive_field(
        repo_root, tmp_path):
    """Patchwise (5x5 receptive field).

    Pixels at least 2 pixels inside every covering tile get the whole-scene
    logits, so the blend can only differ within 2 pixels of an interior tile
    edge.
    """
    from m3plugins.apis.tile_blending import tile_starts
    config = family_config(repo_root,
                           'spectralmamba/spectralmamba_houston2013.py')
    torch.manual_seed(1)
    model = load_segmentor(
        config, device='cpu',
        cfg_options={
            **layout_option(config, [('hsi', 12), ('lidar', 1)]),
            'model.backbone.embed_dims': 8,
            'model.backbone.depth': 1,
            'model.decode_head.in_channels': 8,
            'model.decode_head.channels': 8,
        })
    trained_on(model, hsi_contract([('hsi', 12), ('lidar', 1)]))
    rasters, cube, lidar = hsi_scene(tmp_path, seed=2)
    tile, overlap = 20, 6
    result = infer_large_scene(
        model, rasters, str(tmp_path / 'map.tif'), tile_size=tile,
        overlap=overlap, batch_size=3, save_probabilities=True,
        save_preview=False, progress=False)
    whole = np.concatenate(
        [normalize(cube, 'minmax'),
         normalize(lidar, 'minmax')[..., None]], -1)
    logits = segment_windows(model, [whole])[0]
    softmax = torch.softmax(torch.from_numpy(logits), 0).numpy()
    with rasterio.open(result.probabilities) as src:
        probabilities = src.read()
    height, width = cube.shape[:2]
    clean = np.ones((height, width), bool)
    margin = 2  # receptive field 5: half-width 2
    for axis, length in ((0, height), (1, width)):
        for start in tile_starts(length, tile, tile - overlap):
            for edge in (start, start + tile):
                if 0 < edge < length:  # interior tile edges only
                    index = [slice(None), slice(None)]
                    index[axis] = slice(max(edge - margin, 0),
                                        edge + margin)
                    clean[tuple(index)] = False
    assert 0.3 < clean.mean() < 0.9
    np.testing.assert_allclose(probabilities[:, clean], softmax[:, clean],
                               atol=1e-5)


def test_mobanet_demo_on_a_georeferenced_pair(repo_root, tmp_path):
    """MoBaNet (global attention, so tiles are not equivariant).

    The tiled map is georeferenced and complete, the normalisation is the ISPRS
    contract, and a tile covering the scene is exactly one whole-scene forward
    on the ISPRS dataset's own reading of the tile.
    """
    from m3plugins.datasets.isprs.tiles import TileFiles, read_tile
    config = family_config(repo_root, 'mobanet/mobanet_demo.py')
    torch.manual_seed(0)
    # Narrower than the demo (ViT width 48, 2 heads, 64 -> 16 channels).
    width = 16
    model = load_segmentor(
        config, device='cpu',
        cfg_options={
            'model.backbone.foundation_model.model_kwargs':
            dict(img_size=112, depth=4, embed_dim=48, num_heads=2),
            'model.neck.in_channels': 48,
            'model.neck.out_channels': width,
            'model.decode_head.in_channels': [width] * 4,
            'model.decode_head.channels': width,
            'model.auxiliary_head': [
                dict(type='FCNHead', in_channels=width, in_index=4,
                     channels=width, num_convs=1, num_classes=6),
                dict(type='FCNHead', in_channels=width, in_index=8,
                     channels=width, num_convs=1, num_classes=6)
            ],
        })
    trained_on(model, potsdam_contract())
    optical, dsm = make_scene(120, 130)
    rasters = dict(
        optical=write_scene_raster(tmp_path / 'optical.tif', optical),
        dsm=write_scene_raster(tmp_path / 'dsm.tif', dsm))
    tiled = infer_large_scene(
        model, rasters, str(tmp_path / 'tiled.tif'), tile_size=84,
        overlap=28, batch_size=4, save_probabilities=True, progress=False)
    assert tiled.num_tiles == 4
    assert tiled.normalization == dict(optical='none', dsm='minmax')
    assert tiled.classes[0] == 'impervious_surfaces'
    with rasterio.open(tiled.class_map) as out, \
            rasterio.open(rasters['optical']) as reference:
        assert out.crs == reference.crs and \
            out.transform == reference.transform
        assert out.read(1).max() < 6
    with rasterio.open(tiled.probabilities) as src:
        np.testing.assert_allclose(src.read().sum(0), 1, atol=1e-5)
    whole = infer_large_scene(
        model, rasters, str(tmp_path / 'whole.tif'), tile_size=256,
        save_preview=False, progress=False)
    assert whole.num_tiles == 1
    tile = read_tile(TileFiles('t', rasters['optical'], rasters['dsm']),
                     with_label=False)
    stacked = np.concatenate([tile['optical'], tile['dsm'][..., None]], -1)
    expected = segment_windows(model, [stacked])[0].argmax(0)
    with rasterio.open(whole.class_map) as src:
        np.testing.assert_array_equal(src.read(1), expected)


def test_m3amba_demo_fixed_crop_tiles_with_mixed_formats(repo_root,
                                                         tmp_path):
    """M3amba tiles at its crop size; HSI .mat with a LiDAR GeoTIFF.

    M3amba's adapters are built for one crop size, so the default tile
    is the config's crop (16); HSI from a .mat and LiDAR from a
    georeferenced GeoTIFF: the map takes the GeoTIFF's georeferencing. The
    top-left 12 x 12 pixels are covered by the first tile only, so they
    equal that tile's own forward.
    """
    config = family_config(repo_root, 'm3amba/m3amba_demo.py')
    torch.manual_seed(0)
    model = load_segmentor(
        config, device='cpu',
        cfg_options=layout_option(config, [('hsi', 12), ('lidar', 1)]))
    trained_on(model, hsi_contract([('hsi', 12), ('lidar', 1)],
                                   'HSIDemoScene'))
    (rasters, cube, lidar) = hsi_scene(tmp_path, height=40, width=44)
    rasters['lidar'] = write_scene_raster(tmp_path / 'lidar.tif', lidar)
    result = infer_large_scene(model, rasters, str(tmp_path / 'map.tif'),
                               batch_size=6, progress=False)
    assert result.tile_size == (16, 16) and result.overlap == (4, 4)
    assert result.num_tiles == 3 * 4
    assert result.normalization == dict(hsi='minmax', lidar='minmax')
    assert result.num_classes == 7
    with rasterio.open(result.class_map) as out, \
            rasterio.open(rasters['lidar']) as reference:
        assert out.crs == reference.crs and out.crs.to_epsg() == 32632
        assert out.transform == reference.transform
        class_map = out.read(1)
    assert class_map.shape == (40, 44) and class_map.max() < 7
    first_tile = np.concatenate(
        [normalize(cube, 'minmax')[:16, :16],
         normalize(lidar, 'minmax')[:16, :16, None]], -1)
    expected = segment_windows(model, [first_tile])[0].argmax(0)
    np.testing.assert_array_equal(class_map[:12, :12], expected[:12, :12])
