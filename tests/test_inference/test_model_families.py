"""Large-scene inference with the package's model families, from their own
configs made tiny with ``cfg_options`` (random weights, CPU).

Each family is tested where its configs exist in the tree; a family whose
config is absent is skipped with the path it looked for.
"""
import os.path as osp

import numpy as np
import pytest
import rasterio
import scipy.io
import torch

from inference_helpers import make_scene, write_geotiff
from m3plugins.apis.large_scene_inference import (infer_large_scene,
                                                  load_segmentor,
                                                  segment_windows)
from m3plugins.datasets.normalization import normalize


def family_config(repo_root, relative):
    path = osp.join(repo_root, 'configs', relative)
    if not osp.isfile(path):
        pytest.skip(f'{relative} is not in the tree yet')
    return path


def hsi_scene(tmp_path, height=40, width=52, bands=12, seed=0):
    """A generated HSI cube (.mat v5, key 'hsi') + LiDAR (.npy)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cube = np.stack([
        np.sin(xx / (3 + b) + yy / 7) * (b + 1) for b in range(bands)
    ], -1).astype(np.float32) + rng.normal(0, 0.05, (height, width, bands))
    cube = (1000 + 500 * cube).astype(np.float32)
    lidar = (20 + 3 * np.cos(yy / 5) + rng.normal(0, 0.1, (height, width)))
    scipy.io.savemat(tmp_path / 'scene.mat', dict(hsi=cube))
    np.save(tmp_path / 'lidar.npy', lidar.astype(np.float32))
    return (dict(hsi=str(tmp_path / 'scene.mat'),
                 lidar=str(tmp_path / 'lidar.npy')), cube,
            lidar.astype(np.float32))


def test_spectralmamba_pixelwise_tiles_equal_one_whole_scene_forward(
        repo_root, tmp_path):
    """The pixelwise variant is per-pixel (every kernel 1x1), so tiled and
    whole-scene maps agree exactly; normalisation (per-band min-max over the
    scene for both modalities) and the legend come from the config's
    HSISceneDataset."""
    config = family_config(
        repo_root, 'spectralmamba/spectralmamba_pixelwise_houston2013.py')
    torch.manual_seed(0)
    model = load_segmentor(
        config, device='cpu',
        cfg_options={
            'model.backbone.modality_channels': dict(hsi=12, lidar=1),
            'model.backbone.embed_dims': 8,
            'model.backbone.depth': 1,
            'model.decode_head.in_channels': 8,
            'model.decode_head.channels': 8,
        })
    rasters, cube, lidar = hsi_scene(tmp_path)
    result = infer_large_scene(
        model, rasters, str(tmp_path / 'map.tif'), tile_size=24, overlap=8,
        batch_size=4, class_offset=1, progress=False)
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
    """Patchwise (5x5 receptive field): pixels at least 2 pixels inside
    every covering tile get the whole-scene logits; with overlap 8 the
    blend can only differ within 2 pixels of an interior tile edge."""
    config = family_config(repo_root,
                           'spectralmamba/spectralmamba_houston2013.py')
    torch.manual_seed(1)
    model = load_segmentor(
        config, device='cpu',
        cfg_options={
            'model.backbone.modality_channels': dict(hsi=12, lidar=1),
            'model.backbone.embed_dims': 8,
            'model.backbone.depth': 1,
            'model.decode_head.in_channels': 8,
            'model.decode_head.channels': 8,
        })
    rasters, cube, lidar = hsi_scene(tmp_path, seed=2)
    result = infer_large_scene(
        model, rasters, str(tmp_path / 'map.tif'), tile_size=24, overlap=8,
        save_probabilities=True, save_preview=False, progress=False)
    whole = np.concatenate(
        [normalize(cube, 'minmax'),
         normalize(lidar, 'minmax')[..., None]], -1)
    logits = segment_windows(model, [whole])[0]
    softmax = torch.softmax(torch.from_numpy(logits), 0).numpy()
    with rasterio.open(result.probabilities) as src:
        probabilities = src.read()
    # Tiles start at rows 0, 16 and cols 0, 16, 28: their interior edges lie
    # at rows 16 and 24, cols 16, 24, 28 and 40.
    clean = np.ones((40, 52), bool)
    for edge in (16, 24):
        clean[edge - 2:edge + 2] = False
    for edge in (16, 24, 28, 40):
        clean[:, edge - 2:edge + 2] = False
    np.testing.assert_allclose(probabilities[:, clean], softmax[:, clean],
                               atol=1e-5)
