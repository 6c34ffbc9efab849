"""M3amba configs (paper protocol, modalities, classes), size, demo run."""
import os.path as osp

import numpy as np
import pytest
import torch
from m3amba_helpers import build, data_samples, tiny_model
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from repo_root import REPO_ROOT

from m3plugins.apis.param_report import (
    frozen_step_violations,
    parameter_report,
)
from m3plugins.datasets.hsi import HSI_SCENES
from m3plugins.utils.modalities import ordered_modality_channels

REPO = REPO_ROOT

# config -> (scene, modalities in order, classes)
PAPER_CONFIGS = {
    'm3amba_houston2013.py': ('Houston2013', dict(hsi=144, lidar=1), 15),
    'm3amba_muufl.py': ('MUUFL', dict(hsi=64, lidar=2), 11),
    'm3amba_augsburg.py': ('Augsburg', dict(hsi=180, sar=4), 7),
    'm3amba_trento.py': ('Trento', dict(hsi=63, lidar=1), 6),
}


def load(name):
    return Config.fromfile(osp.join(REPO, 'configs', 'm3amba', name))


@pytest.mark.parametrize('name', sorted(PAPER_CONFIGS))
def test_paper_configs_follow_the_official_protocol(name):
    scene, channels, num_classes = PAPER_CONFIGS[name]
    cfg = load(name)
    model = cfg.model
    assert model.type == 'M3amba'
    # The layout is declared once, in the data preprocessor.
    assert model.data_preprocessor.type == 'MultimodalSegDataPreProcessor'
    assert list(ordered_modality_channels(
        model.data_preprocessor.modality_channels).items()) == list(
            channels.items())
    assert 'modality_channels' not in model
    assert 'modality_channels' not in model.backbone
    assert model.decode_head.num_classes == num_classes
    scene_cls = HSI_SCENES.get(scene)
    assert len(scene_cls.classes) == num_classes
    assert {m: scene_cls.modality_bands[m] for m in channels} == channels
    # Paper sizes and the frozen OpenAI CLIP ViT-B/32.
    assert model.backbone.crop_size == (32, 32)
    assert model.backbone.foundation_model.name == 'ViT-B-32'
    assert model.backbone.foundation_model.pretrained == 'openai'
    neck = model.neck
    assert (neck.embed_dims, neck.depth, neck.d_state, neck.expand,
            neck.dt_rank, neck.mlp_ratio, neck.drop_path_rate) == \
        (384, 9, 16, 2, 24, 4.0, 0.1)
    # Crop protocol: 32 x 32, padding 16, train stride 8, test stride 32.
    for loader, split, stride in ((cfg.train_dataloader, 'train', 8),
                                  (cfg.val_dataloader, 'test', 32),
                                  (cfg.test_dataloader, 'test', 32)):
        dataset = loader.dataset
        assert dataset.type == 'HSISceneDataset'
        assert dataset.scene.type == scene
        assert tuple(dataset.scene.modalities) == tuple(channels)
        assert (dataset.split, dataset.protocol, dataset.crop_size,
                dataset.stride, dataset.padding) == \
            (split, 'crop', 32, stride, 16)
    assert cfg.val_evaluator.type == 'HSIClassificationMetric'
    assert cfg.model.data_preprocessor.mean is None
    # Every trainable parameter is used: DDP needs no unused-parameter search.
    assert not cfg.model_wrapper_cfg.find_unused_parameters


def test_houston2013_has_about_70_8m_parameters_outside_the_tower():
    cfg = load('m3amba_houston2013.py')
    cfg.model.backbone.foundation_model.pretrained = None  # no download
    model = build(cfg.model)
    report = parameter_report(model)
    tower = sum(p.numel() for p in model.backbone.tower.parameters())
    assert tower > 80e6  # the ViT-B/32 image tower
    # The official layout: about 70.8M outside the tower. Of those, the
    # parameters no loss reaches (guide dt_proj and D of the 18 Cross-SS2D
    # blocks, the two modality classifiers) are frozen, 1.45M.
    unused = report.total.frozen - tower
    assert report.total.trainable + unused == pytest.approx(70.8e6, rel=0.01)
    guide = 18 * 4 * (768 * 24 + 768 + 768)
    classifiers = 2 * (2 * 384 + 384 * 15 + 15)
    assert unused == guide + classifiers
    assert report.modules['backbone'].frozen == tower


def test_param_report_check_passes_after_a_step():
    model = tiny_model()
    model.train()
    optim_wrapper = build_optim_wrapper(
        model, dict(type='OptimWrapper',
                    optimizer=dict(type='AdamW', lr=1e-3)))
    inputs = torch.rand(2, 7, 8, 6)
    labels = torch.randint(0, 4, (2, 8, 6))
    model.train_step(dict(inputs=list(inputs),
                          data_samples=data_samples(labels)), optim_wrapper)
    assert frozen_step_violations(model, optim_wrapper.optimizer) == []
    # The check can fail: a frozen parameter with a gradient is reported.
    frozen = next(model.backbone.tower.parameters())
    frozen.grad = torch.zeros_like(frozen)
    assert frozen_step_violations(model, optim_wrapper.optimizer)


def write_tiny_houston_scene(root, shape=(20, 24), num_classes=7):
    """A tiny scene in Houston2013's MATLAB layout (HSI 144 + LiDAR 1).

    Classes are vertical stripes with class-specific spectra; every other
    pixel of a stripe is a training pixel, the rest are test pixels.
    """
    from fake_data.hsi_scene_files import write_scene_arrays

    from m3plugins.datasets.hsi import Houston2013
    rng = np.random.default_rng(0)
    height, width = shape
    classes = (np.arange(width) * num_classes // width)[None].repeat(height,
                                                                    0)
    spectra = rng.random((num_classes, 144)).astype(np.float32)
    hsi = spectra[classes] + 0.05 * rng.random((height, width, 144))
    lidar = classes.astype(np.float32) * 2 + rng.random((height, width))
    checker = (np.add.outer(np.arange(height), np.arange(width)) % 2) == 0
    train = np.where(checker, classes + 1, 0).astype(np.uint8)
    test = np.where(~checker, classes + 1, 0).astype(np.uint8)
    write_scene_arrays(root, Houston2013, dict(
        hsi=hsi.astype(np.float32), lidar=lidar, train=train, test=test))


@pytest.mark.slow
def test_demo_config_trains_and_evaluates_through_the_runner(tmp_path):
    """Two iterations and a validation pass through mmengine's Runner."""
    from mmengine.runner import Runner
    root = str(tmp_path / 'houston2013')
    write_tiny_houston_scene(root)
    cfg = load('m3amba_demo.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        # The tiny scene in the demo scene's (Houston2013's) file layout.
        cfg[loader].dataset.scene.type = 'Houston2013'
        cfg[loader].dataset.scene.root = root
    # Houston2013 has 15 classes (the tiny scene uses the first 7); the
    # data contract check refuses a 7-class model on it.
    cfg.model.decode_head.num_classes = 15
    cfg.train_cfg.max_iters = 2
    cfg.train_cfg.val_interval = 2
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.default_hooks.logger.interval = 1
    # The config's parts, given one by one (Runner.from_cfg would also
    # pretty-print the whole config several times, seconds of yapf).
    runner = Runner(
        model=cfg.model,
        work_dir=str(tmp_path / 'work'),
        train_dataloader=cfg.train_dataloader,
        val_dataloader=cfg.val_dataloader,
        train_cfg=cfg.train_cfg,
        val_cfg=cfg.val_cfg,
        optim_wrapper=cfg.optim_wrapper,
        val_evaluator=cfg.val_evaluator,
        default_hooks=cfg.default_hooks,
        visualizer=cfg.visualizer,
        log_processor=cfg.log_processor,
        default_scope=cfg.default_scope,
        env_cfg=dict(cudnn_benchmark=False,
                     mp_cfg=dict(mp_start_method='fork',
                                 opencv_num_threads=0)))
    runner.train()
    metrics = runner.val_loop.run()
    assert {'OA', 'AA', 'Kappa'} <= set(metrics)
    assert 0 <= metrics['OA'] <= 100


@pytest.mark.parametrize('lidar, match', [
    (np.zeros((20, 23), np.float32), r'hsi 20x24, lidar 20x23'),
    (np.full((20, 24), np.nan, np.float32), r"'lidar' contains NaN"),
])
def test_bad_scene_files_are_rejected_naming_the_modality(
        tmp_path, lidar, match):
    """The data side of a config: sizes and finiteness per modality."""
    from fake_data.hsi_scene_files import write_scene_arrays

    from m3plugins.datasets.hsi import Houston2013
    from m3plugins.utils.modalities import ModalityError
    root = str(tmp_path / 'houston2013')
    write_tiny_houston_scene(root)
    write_scene_arrays(root, Houston2013, dict(lidar=lidar))
    cfg = load('m3amba_demo.py')
    cfg.train_dataloader.dataset.scene.type = 'Houston2013'
    cfg.train_dataloader.dataset.scene.root = root
    cfg.train_dataloader.dataset.cache_scene = False
    with pytest.raises(ModalityError, match=match):
        build_dataset(cfg.train_dataloader.dataset)


def build_dataset(cfg):
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(cfg)


def test_demo_config_is_small_and_its_crops_match_the_backbone():
    cfg = load('m3amba_demo.py')
    crop = tuple(cfg.model.backbone.crop_size)
    assert cfg.train_dataloader.dataset.scene.type == 'HSIDemoScene'
    assert cfg.model.backbone.foundation_model.pretrained is None
    assert cfg.model.neck.embed_dims < 384 and cfg.model.neck.depth < 9
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        assert (loader.dataset.crop_size, ) * 2 == crop
    assert tuple(cfg.model.data_preprocessor.size) == crop
