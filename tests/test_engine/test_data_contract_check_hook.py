"""The data contract: declared by datasets, checked by the runner, saved.

Datasets put their contract into ``metainfo``; ``DataContractCheckHook``
stops a run before its first iteration when the model disagrees with it
(swapped modalities of equal total bands, a band-count mismatch, a class
count mismatch), and the checkpoint keeps the contract with the model's
tile size for inference.
"""
import os.path as osp

import pytest
import torch
from fake_data.hsi_scene_files import write_learnable_houston2013
from fake_data.isprs_tiles import write_fake_potsdam
from mmengine.config import Config
from mmengine.hooks import Hook
from mmseg.registry import DATASETS
from user_error import raises_user_error

import m3plugins  # noqa: F401
from m3plugins.apis.cli import build_runner
from m3plugins.engine.data_contract_check_hook import ClassCountError
from m3plugins.structures import DataContract, ModalitySpec
from m3plugins.utils.modalities import ModalityError

HSI_BANDS = 12


def test_contract_round_trips_through_plain_metainfo():
    """to_metainfo / from_metainfo are inverses and hold plain values."""
    contract = DataContract(
        modalities=(ModalitySpec('optical', 3),
                    ModalitySpec('dsm', 1, 'minmax', 'tile', 0.0, 1)),
        classes=('a', 'b'), palette=((1, 2, 3), (4, 5, 6)),
        tile_size=(256, 128))
    meta = contract.to_metainfo()
    assert DataContract.from_metainfo(meta) == contract
    assert meta['modalities'][1] == dict(
        name='dsm', bands=1, normalization='minmax', statistics_scope='tile',
        nodata_fill=0.0, edge_padding=1)
    assert contract.modality_channels == {'optical': 3, 'dsm': 1}
    # A metainfo without modalities (plain MMSeg dataset) has no contract.
    assert DataContract.from_metainfo(dict(classes=('a', ))) is None
    assert DataContract.from_metainfo(None) is None
    # add_to_metainfo keeps classes a user renamed.
    renamed = contract.add_to_metainfo(dict(classes=('x', 'y')))
    assert renamed['classes'] == ('x', 'y') and renamed['tile_size'] == [
        256, 128]


@pytest.mark.parametrize('kwargs, match', [
    (dict(modalities=(ModalitySpec('a', 1), ModalitySpec('a', 2)),
          classes=('c', )), 'name one twice'),
    (dict(modalities=(), classes=('c', )), 'at least one modality'),
    (dict(modalities=(ModalitySpec('a', 1), ), classes=('c', 'd'),
          palette=((0, 0, 0), )), '2 classes but 1 palette'),
])
def test_contract_rejects_inconsistent_declarations(kwargs, match):
    """Duplicate or missing modalities and short palettes are refused."""
    with pytest.raises(ValueError, match=match):
        DataContract(**kwargs)
    with pytest.raises(ValueError, match='normalization must be one of'):
        ModalitySpec('a', 1, 'percentile')
    with pytest.raises(ValueError, match='positive band count'):
        ModalitySpec('a', 0)


def test_datasets_declare_their_contract_in_metainfo(tmp_path):
    """Built datasets carry the contract their config declares."""
    write_learnable_houston2013(str(tmp_path / 'houston'), bands=HSI_BANDS)
    scene = dict(type='Houston2013', root=str(tmp_path / 'houston'),
                 band_counts=dict(hsi=HSI_BANDS),
                 normalization=dict(hsi='minmax', lidar='zscore'))
    cfg = dict(type='HSISceneDataset', scene=scene, split='test',
               protocol='whole')
    hsi = DATASETS.build(cfg)
    contract = DataContract.from_metainfo(hsi.metainfo)
    assert [(m.name, m.bands, m.normalization, m.statistics_scope)
            for m in contract.modalities] == [
                ('hsi', HSI_BANDS, 'minmax', 'scene'),
                ('lidar', 1, 'zscore', 'scene')]
    assert contract.num_classes == 15 and contract.ignore_index == 255

    write_fake_potsdam(str(tmp_path / 'potsdam'), tiles=('2_10', ))
    cfg = dict(type='ISPRSPotsdamDataset', data_root=str(tmp_path /
                                                         'potsdam'),
               tiles=['2_10'], optical='RGBIR', dsm_normalization='zscore')
    potsdam = DATASETS.build(cfg)
    contract = DataContract.from_metainfo(potsdam.metainfo)
    assert contract.modality_channels == {'optical': 4, 'dsm': 1}
    dsm = contract.modality('dsm')
    assert (dsm.normalization, dsm.statistics_scope, dsm.nodata_fill,
            dsm.edge_padding) == ('zscore', 'tile', 0.0, 1)
    assert contract.modality('optical').normalization == 'none'
    assert contract.classes == tuple(potsdam.metainfo['classes'])


class _IterationCounter(Hook):
    """Counts training iterations that started."""

    def __init__(self) -> None:
        self.iterations = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        """Count one iteration."""
        self.iterations += 1


def _set_layout(cfg: Config, layout: list) -> None:
    """Give the model ``layout`` where configs declare it, once."""
    cfg.model.data_preprocessor.modality_channels = layout


def _tiny_spectralmamba(repo_root: str, tmp_path, scene: dict) -> Config:
    """SpectralMamba Houston2013 config shrunk to a 3-iteration run."""
    cfg = Config.fromfile(
        osp.join(repo_root,
                 'configs/spectralmamba/spectralmamba_houston2013.py'))
    _set_layout(cfg, [('hsi', HSI_BANDS), ('lidar', 1)])
    cfg.model.backbone.embed_dims = 8
    cfg.model.decode_head.in_channels = cfg.model.decode_head.channels = 8
    cfg.train_dataloader.update(batch_size=2, num_workers=0,
                                persistent_workers=False)
    cfg.train_dataloader.dataset.update(scene=scene, crop_size=8, stride=8,
                                        padding=4)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.scene = dict(scene)
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0,
                                by_epoch=False)]
    cfg.default_hooks.checkpoint.interval = 2
    cfg.work_dir = str(tmp_path / 'work')
    return cfg


@pytest.fixture
def houston_scene(tmp_path):
    """Scene config of a tiny Houston2013 written under tmp_path."""
    write_learnable_houston2013(str(tmp_path / 'houston'), bands=HSI_BANDS)
    return dict(type='Houston2013', root=str(tmp_path / 'houston'),
                modalities=('hsi', 'lidar'), normalization='minmax',
                band_counts=dict(hsi=HSI_BANDS))


def _train_refused(cfg: Config, error: type, match: str) -> None:
    """Training raises ``error`` before its first iteration."""
    runner = build_runner(cfg)
    counter = _IterationCounter()
    runner.register_hook(counter)
    with raises_user_error(error, match):
        runner.train()
    assert counter.iterations == 0


@pytest.mark.slow
def test_swapped_modalities_of_equal_total_are_caught(
        repo_root, tmp_path, houston_scene):
    """lidar+hsi data for an hsi+lidar model: same 13 channels, refused."""
    houston_scene['modalities'] = ('lidar', 'hsi')
    cfg = _tiny_spectralmamba(repo_root, tmp_path, houston_scene)
    _train_refused(cfg, ModalityError,
                   r"stacks the modalities in the order \['lidar', 'hsi'\] "
                   r"but the model expects \['hsi', 'lidar'\].*train dataset")


@pytest.mark.slow
def test_band_count_mismatch_is_caught(repo_root, tmp_path, houston_scene):
    """A model built for 13 HSI bands on 12-band data names both counts."""
    cfg = _tiny_spectralmamba(repo_root, tmp_path, houston_scene)
    _set_layout(cfg, [('hsi', HSI_BANDS + 1), ('lidar', 1)])
    _train_refused(cfg, ModalityError,
                   f'hsi has {HSI_BANDS} bands, the model expects '
                   f'{HSI_BANDS + 1}')


@pytest.mark.slow
def test_class_count_mismatch_is_caught(repo_root, tmp_path, houston_scene):
    """A 7-class model on the 15 Houston2013 classes names both numbers."""
    cfg = _tiny_spectralmamba(repo_root, tmp_path, houston_scene)
    cfg.model.decode_head.num_classes = 7
    _train_refused(cfg, ClassCountError,
                   r"The data has 15 classes \(Healthy grass, .*\) but the "
                   r"model's decode_head predicts 7 \(num_classes=7\) in "
                   'the train dataset HSISceneDataset')


@pytest.mark.slow
def test_checkpoint_keeps_the_contract_and_testing_checks_it(
        repo_root, tmp_path, houston_scene):
    """The saved contract has the tile size; other scaling is refused."""
    cfg = _tiny_spectralmamba(repo_root, tmp_path, houston_scene)
    runner = build_runner(cfg)
    runner.train()
    checkpoint = torch.load(osp.join(cfg.work_dir, 'iter_2.pth'),
                            map_location='cpu', weights_only=True)
    contract = DataContract.from_metainfo(checkpoint['meta']['dataset_meta'])
    assert contract.modality_channels == {'hsi': HSI_BANDS, 'lidar': 1}
    assert contract.num_classes == 15
    test_cfg = runner.model.test_cfg
    if test_cfg.get('mode') == 'slide':
        assert contract.tile_size == tuple(test_cfg['crop_size'])
    else:
        size = runner.model.data_preprocessor.size
        assert contract.tile_size == (None if size is None else tuple(size))

    cfg.load_from = osp.join(cfg.work_dir, 'iter_2.pth')
    assert 'OA' in build_runner(cfg).test()  # same data: accepted
    cfg.test_dataloader.dataset.scene['normalization'] = dict(
        hsi='minmax', lidar='zscore')
    with raises_user_error(ModalityError,
                           "lidar is served with 1 bands, normalization "
                           "'zscore'.*trained on 1 bands, normalization "
                           "'minmax'"):
        build_runner(cfg).test()
