"""SpectralMamba configs build and run through mmengine's Runner.

A few iterations train, validate and test on a tiny generated scene in
Houston2013's on-disk format, and testing writes the whole-scene class map.
"""
import os.path as osp

import numpy as np
import pytest
import torch
from fake_data.hsi_scene_files import (
    write_learnable_houston2013,
    write_scene_arrays,
)
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS

import m3plugins  # noqa: F401
from m3plugins.apis.cli import build_runner
from m3plugins.datasets.hsi import Houston2013
from m3plugins.engine import HSIClassMapHook
from m3plugins.io import colourise_class_map, save_class_map

SCENES = dict(
    houston2013=(dict(hsi=144, lidar=1), 15),
    muufl=(dict(hsi=64, lidar=2), 11),
    augsburg=(dict(hsi=180, sar=4), 7),
    trento=(dict(hsi=63, lidar=1), 6),
    botswana=(dict(hsi=145), 14),
    whu_hi_longkou=(dict(hsi=270), 9),
    indian_pines=(dict(hsi=200), 16),
    pavia_university=(dict(hsi=103), 9),
)


@pytest.mark.parametrize('name', sorted(SCENES))
def test_dataset_configs_build(repo_root, name):
    init_default_scope('mmseg')
    cfg = Config.fromfile(
        osp.join(repo_root, f'configs/spectralmamba/spectralmamba_{name}.py'))
    channels, classes = SCENES[name]
    # The layout is declared once, in the data preprocessor.
    assert 'modality_channels' not in cfg.model.backbone
    assert dict(cfg.model.data_preprocessor.modality_channels) == channels
    assert tuple(cfg.train_dataloader.dataset.scene.modalities) == \
        tuple(channels)
    assert cfg.train_dataloader.dataset.protocol == 'crop'
    assert cfg.test_dataloader.dataset.protocol == 'whole'
    assert cfg.val_evaluator.type == 'HSIClassificationMetric'
    model = MODELS.build(cfg.model)
    assert dict(model.backbone.modality_channels) == channels
    assert model.decode_head.num_classes == classes
    params = sum(p.numel() for p in model.parameters())
    assert 10_000 <= params < 100_000, params
    with torch.no_grad():
        logits = model(torch.rand(1, sum(channels.values()), 6, 9))
    assert logits.shape == (1, classes, 6, 9)


def test_variant_configs(repo_root):
    folder = osp.join(repo_root, 'configs/spectralmamba')
    patch = Config.fromfile(f'{folder}/spectralmamba_houston2013_patch.py')
    assert patch.train_dataloader.dataset.protocol == 'patch'
    assert patch.train_dataloader.dataset.patch_size >= 5
    pixel = Config.fromfile(
        f'{folder}/spectralmamba_pixelwise_houston2013.py')
    assert pixel.model.backbone.variant == 'pixelwise'
    demo = Config.fromfile(f'{folder}/spectralmamba_demo.py')
    assert demo.train_dataloader.dataset.scene.type == 'HSIDemoScene'
    from m3plugins.datasets.hsi import HSI_SCENES
    assert HSI_SCENES.get('HSIDemoScene') is not None  # after the imports


@pytest.mark.slow
def test_runner_trains_validates_and_writes_the_class_map(
        repo_root, tmp_path):
    data = tmp_path / 'houston'
    data.mkdir()
    test_labels = write_learnable_houston2013(str(data))
    cfg = Config.fromfile(
        osp.join(repo_root,
                 'configs/spectralmamba/spectralmamba_houston2013.py'))
    scene = dict(type='Houston2013', root=str(data),
                 modalities=('hsi', 'lidar'), normalization='minmax',
                 band_counts=dict(hsi=12))
    cfg.model.data_preprocessor.modality_channels = dict(hsi=12, lidar=1)
    cfg.model.backbone.embed_dims = 8
    cfg.model.decode_head.in_channels = cfg.model.decode_head.channels = 8
    cfg.train_dataloader.update(batch_size=2, num_workers=0,
                                persistent_workers=False)
    cfg.train_dataloader.dataset.update(scene=scene, crop_size=8, stride=8,
                                        padding=4)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.scene = scene
    cfg.train_cfg.update(max_iters=3, val_interval=3)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0,
                                by_epoch=False)]
    cfg.default_hooks.checkpoint.interval = 3
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    runner = build_runner(cfg)
    runner.train()
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_3.pth'))

    cfg.load_from = osp.join(cfg.work_dir, 'iter_3.pth')
    cfg.test_evaluator['output_dir'] = str(tmp_path / 'out')  # like --out
    metrics = build_runner(cfg).test()
    assert {'OA', 'AA', 'Kappa'} <= set(metrics)
    assert 0 <= metrics['OA'] <= 100
    class_map = np.load(tmp_path / 'out' / 'Houston2013_class_map.npy')
    assert class_map.shape == test_labels.shape
    assert class_map.min() >= 1 and class_map.max() <= 15  # all predicted
    assert osp.getsize(tmp_path / 'out' / 'Houston2013_class_map.png') > 0
    # the map agrees with the metric: OA recomputed from it
    labeled = test_labels > 0
    oa = 100 * (class_map[labeled] == test_labels[labeled]).mean()
    assert oa == pytest.approx(metrics['OA'], abs=1e-3)


def test_class_map_writer_and_bad_inputs(tmp_path):
    rgb = colourise_class_map(np.array([[0, 1], [2, 2]]),
                              [(255, 0, 0), (0, 0, 255)])
    assert rgb.shape == (2, 2, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[1, 1].tolist() == [0, 0, 255]
    with pytest.raises(ValueError, match='labels must lie'):
        colourise_class_map(np.array([[3]]), [(1, 2, 3)])
    with pytest.raises(ValueError, match='palette colours'):
        save_class_map(np.ones((2, 2), int), str(tmp_path / 'x'), ['a', 'b'],
                       [(1, 2, 3)])
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin
    paths = save_class_map(
        np.array([[1, 2, 2], [0, 1, 2]]), str(tmp_path / 'geo' / 'm'),
        ['a', 'b'], [(1, 2, 3), (4, 5, 6)],
        georeference=dict(transform=from_origin(100, 200, 2.5, 2.5),
                          crs=CRS.from_epsg(32615)))
    with rasterio.open(paths['map']) as src:
        assert src.crs.to_epsg() == 32615
        assert src.transform.a == 2.5
        assert src.read(1).tolist() == [[1, 2, 2], [0, 1, 2]]


def test_hook_writes_a_geotiff_for_a_georeferenced_scene(tmp_path):
    """Houston2013 read from georeferenced contest GeoTIFFs.

    The hook finds the scene's transform and CRS through the test dataset and
    writes the stitched prediction as a GeoTIFF on the scene's grid.
    """
    from types import SimpleNamespace

    import rasterio
    from mmengine.registry import init_default_scope
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    from m3plugins.datasets import HSISceneDataset

    init_default_scope('mmseg')
    height, width, padding = 6, 9, 2
    transform = Affine(2.5, 0.0, 271460.0, 0.0, -2.5, 3290891.0)
    crs = CRS.from_epsg(32615)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 16, (height, width)).astype(np.uint8)
    write_scene_arrays(str(tmp_path), Houston2013, dict(
        hsi=np.moveaxis(rng.random((4, height, width)).astype(np.float32),
                        0, -1),
        lidar=rng.random((height, width)).astype(np.float32),
        train=np.where(np.arange(width) % 2, labels, 0),
        test=np.where(np.arange(width) % 2, 0, labels)),
        fmt='tif', georeference=(transform, crs))
    dataset = HSISceneDataset(
        scene=dict(type='Houston2013', root=str(tmp_path),
                   band_counts=dict(hsi=4)), split='test',
        protocol='whole', padding=padding, cache_scene=False,
        pipeline=[dict(type='LoadHSISceneWindow'),
                  dict(type='PackSegInputs',
                       meta_keys=('img_path', 'window', 'scene_shape'))])
    assert (dataset.scene.transform, dataset.scene.crs) == (transform, crs)

    sample = dataset[0]['data_samples']
    predicted = rng.integers(0, 15, (height + 2 * padding,
                                     width + 2 * padding))
    sample.pred_sem_seg = PixelData(data=torch.from_numpy(predicted)[None])
    hook = HSIClassMapHook(out_dir=str(tmp_path / 'maps'))
    runner = SimpleNamespace(test_dataloader=SimpleNamespace(dataset=dataset))
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, None, [sample])
    hook.after_test_epoch(runner)

    path = hook.written['Houston2013']['map']
    assert path == str(tmp_path / 'maps' / 'Houston2013_class_map.tif')
    with rasterio.open(path) as src:
        assert src.transform == transform and src.crs == crs
        np.testing.assert_array_equal(
            src.read(1), predicted[padding:-padding, padding:-padding] + 1)


def test_hook_requires_window_metainfo():
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(img_shape=(2, 2)))
    sample.pred_sem_seg = PixelData(
        data=torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(KeyError, match='window'):
        HSIClassMapHook().after_test_iter(None, 0, None, [sample])
