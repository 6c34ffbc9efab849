"""MMSeg's ISPRS clip layout + dsm_dir: converter, datasets, MoBaNet runs.

Fake original tiles (``fake_data.isprs_tiles``) of 150 x 140 pixels are cut
into 64 x 64 clips at MMSeg's stride argument 32 by
``tools/dataset_converters/isprs_multimodal.py``.
"""
import argparse
import copy
import os
import os.path as osp
import runpy
import shutil

import numpy as np
import pytest
import rasterio
import torch
from fake_data.isprs_tiles import write_fake_potsdam, write_fake_vaihingen
from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmseg.registry import DATASETS, TRANSFORMS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402
from PIL import Image
from repo_root import REPO_ROOT
from user_error import raises_user_error

import m3plugins  # noqa: F401  (first: mmcv-lite compat for mmseg)
from m3plugins.io import MissingDataError  # noqa: E402
from m3plugins.structures import DataContract  # noqa: E402
from m3plugins.utils.output_paths import OutputOverwriteError  # noqa: E402

register_all_modules(init_default_scope=True)

REPO = REPO_ROOT
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'isprs_multimodal.py')
TILE_SIZE = (150, 140)  # height, width
CLIP, STRIDE = 64, 32
#: MMSeg's clip starts for 150 rows / 140 columns (clip 64, stride 32).
ROW_STARTS, COL_STARTS = [0, 64, 86], [0, 64, 76]
TEST_PIPELINE = [
    dict(type='LoadMultimodalClip'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


@pytest.fixture(scope='module')
def converter():
    """The converter's module globals (``main``, ``mmseg_clip_starts``...)."""
    return runpy.run_path(TOOL)


@pytest.fixture(scope='module')
def converted(tmp_path_factory, converter):
    """Fake originals of both cities and their converted clip roots."""
    base = tmp_path_factory.mktemp('isprs_clips')
    out = {}
    for city, writer, tiles in (
            ('potsdam', write_fake_potsdam, ('2_10', '2_13')),
            ('vaihingen', write_fake_vaihingen, ('1', '2'))):
        original = str(base / f'{city}_original')
        scenes = writer(original, tiles, size=TILE_SIZE)
        clips = str(base / f'{city}_clips')
        counts = converter['main']([
            city, original, '-o', clips, '--clip-size', str(CLIP),
            '--stride-size', str(STRIDE)])
        out[city] = dict(original=original, clips=clips, scenes=scenes,
                         counts=counts)
    return out


def _names(prefix):
    return sorted(f'{prefix}_{x}_{y}_{x + CLIP}_{y + CLIP}'
                  for y in ROW_STARTS for x in COL_STARTS)


def _stems(folder):
    return sorted(osp.splitext(name)[0] for name in os.listdir(folder))


def test_clip_starts_follow_mmseg(converter):
    starts = converter['mmseg_clip_starts']
    # MMSeg 1.2.2 steps by clip_size and clamps the last clip to the edge:
    # a 6000-pixel Potsdam axis gives 12 clips, the last at 5488.
    assert starts(6000, 512, 256) == list(range(0, 5121, 512)) + [5488]
    assert starts(TILE_SIZE[0], CLIP, STRIDE) == ROW_STARTS
    assert starts(TILE_SIZE[1], CLIP, STRIDE) == COL_STARTS
    assert starts(64, 64, 32) == [0]
    with pytest.raises(ValueError, match='shorter'):
        starts(50, 64, 32)


def test_names_counts_and_split(converted):
    potsdam, vaihingen = converted['potsdam'], converted['vaihingen']
    assert potsdam['counts'] == {'train': 9, 'val': 9}
    assert vaihingen['counts'] == {'train': 9, 'val': 9}
    for city, train, val in (('potsdam', '2_10', '2_13'),
                             ('vaihingen', 'area1', 'area2')):
        root = converted[city]['clips']
        for split, prefix in (('train', train), ('val', val)):
            for folder in ('img_dir', 'ann_dir', 'dsm_dir'):
                assert _stems(osp.join(root, folder, split)) == \
                    _names(prefix), (city, folder, split)
        assert os.listdir(osp.join(root, 'dsm_dir', 'train'))[0].endswith(
            '.tif')


def test_clips_hold_the_tile_regions(converted):
    """Optical, MMSeg label codes and per-tile-scaled DSM of each window."""
    potsdam = converted['potsdam']
    scene = potsdam['scenes']['2_13']
    dsm = scene['dsm'][0]
    scaled = (dsm - dsm.min()) / (dsm.max() - dsm.min())
    for y in ROW_STARTS:
        for x in COL_STARTS:
            name = f'2_13_{x}_{y}_{x + CLIP}_{y + CLIP}'
            rows, cols = slice(y, y + CLIP), slice(x, x + CLIP)
            optical = np.asarray(Image.open(osp.join(
                potsdam['clips'], 'img_dir', 'val', name + '.png')))
            np.testing.assert_array_equal(
                optical, np.moveaxis(scene['rgbir'][:3], 0, -1)[rows, cols])
            label = np.asarray(Image.open(osp.join(
                potsdam['clips'], 'ann_dir', 'val', name + '.png')))
            eroded = scene['eroded'][rows, cols]
            expected = np.where(eroded == 255, 0, eroded + 1)
            np.testing.assert_array_equal(label, expected)
            with rasterio.open(osp.join(potsdam['clips'], 'dsm_dir', 'val',
                                        name + '.tif')) as src:
                assert src.dtypes == ('float32', )
                clip = src.read(1)
                tags = src.tags()
            np.testing.assert_allclose(clip, scaled[rows, cols], rtol=0,
                                       atol=1e-6)
            assert tags['source_tile'] == '2_13'
            assert float(tags['tile_maximum']) == pytest.approx(dsm.max())
    # Labels use all of MMSeg's codes: boundary 0 and the six classes.
    assert set(np.unique(label)) <= set(range(7))


def test_identical_to_mmseg_converter(converted, tmp_path):
    """Same names and pixels as MMSeg 1.2.2's own clip_big_image."""
    import mmseg
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                      'dataset_converters', 'potsdam.py')
    if not osp.isfile(script):
        pytest.skip('MMSeg was installed without its .mim tools')
    clip_big_image = runpy.run_path(script)['clip_big_image']
    potsdam = converted['potsdam']
    args = argparse.Namespace(clip_size=CLIP, stride_size=STRIDE)
    for source, kind, to_label in (
            (osp.join('2_Ortho_RGB', 'top_potsdam_2_10_RGB.tif'), 'img_dir',
             False),
            (osp.join('5_Labels_all_noBoundary',
                      'top_potsdam_2_10_label_noBoundary.tif'), 'ann_dir',
             True)):
        out = tmp_path / kind
        out.mkdir()
        clip_big_image(osp.join(potsdam['original'], source), str(out), args,
                       to_label=to_label)
        ours = osp.join(potsdam['clips'], kind, 'train')
        assert sorted(os.listdir(out)) == sorted(os.listdir(ours))
        for name in os.listdir(out):
            np.testing.assert_array_equal(
                np.asarray(Image.open(out / name)),
                np.asarray(Image.open(osp.join(ours, name))), err_msg=name)


def _dataset(root, split='train', **kwargs):
    return DATASETS.build(dict(
        type='ISPRSPotsdamClipsDataset', data_root=root,
        data_prefix=dict(img_path=f'img_dir/{split}',
                         seg_map_path=f'ann_dir/{split}'),
        pipeline=TEST_PIPELINE, **kwargs))


def test_dataset_stacks_optical_and_dsm(converted):
    potsdam = converted['potsdam']
    ds = _dataset(potsdam['clips'], 'val')  # dsm_dir derived from img_dir
    assert len(ds) == 9
    assert ds.metainfo['classes'][-1] == 'clutter'
    info = ds.get_data_info(0)
    assert info['dsm_path'].endswith(
        osp.join('dsm_dir', 'val', '2_13_0_0_64_64.tif'))
    assert info['modality_channels'] == {'optical': 3, 'dsm': 1}
    # The data contract in metainfo, as its config declares it.
    contract = DataContract.from_metainfo(ds.metainfo)
    assert [(m.name, m.bands, m.normalization) for m in contract.modalities
            ] == [('optical', 3, 'none'), ('dsm', 1, 'minmax')]
    assert contract.num_classes == 6 and contract.ignore_index == 255
    item = ds[0]
    inputs = item['inputs']
    assert inputs.shape == (4, CLIP, CLIP) and inputs.dtype == torch.float32
    scene = potsdam['scenes']['2_13']
    dsm = scene['dsm'][0]
    np.testing.assert_array_equal(inputs[:3].numpy(),
                                  scene['rgbir'][:3, :CLIP, :CLIP])
    np.testing.assert_allclose(
        inputs[3].numpy(),
        ((dsm - dsm.min()) / (dsm.max() - dsm.min()))[:CLIP, :CLIP],
        atol=1e-6)
    # reduce_zero_label: MMSeg's 0 (boundary) -> 255, 1..6 -> 0..5.
    np.testing.assert_array_equal(
        item['data_samples'].gt_sem_seg.data[0].numpy(),
        scene['eroded'][:CLIP, :CLIP])
    vaihingen = DATASETS.build(dict(
        type='ISPRSVaihingenClipsDataset',
        data_root=converted['vaihingen']['clips'], pipeline=TEST_PIPELINE))
    assert vaihingen[0]['inputs'].shape == (4, CLIP, CLIP)


def test_optical_only_dataset_needs_no_dsm(converted, tmp_path):
    root = str(tmp_path / 'mmseg_only')
    for folder in ('img_dir', 'ann_dir'):
        shutil.copytree(osp.join(converted['potsdam']['clips'], folder),
                        osp.join(root, folder))
    ds = _dataset(root, with_dsm=False)
    assert ds.get_data_info(0)['modality_channels'] == {'optical': 3}
    assert DataContract.from_metainfo(ds.metainfo).modality_channels == \
        {'optical': 3}
    assert 'dsm_path' not in ds.get_data_info(0)
    assert ds[0]['inputs'].shape == (3, CLIP, CLIP)


def test_missing_dsm_names_the_converter(converted, tmp_path):
    root = str(tmp_path / 'mmseg_only')
    for folder in ('img_dir', 'ann_dir'):
        shutil.copytree(osp.join(converted['potsdam']['clips'], folder),
                        osp.join(root, folder))
    command = 'isprs_multimodal.py potsdam'
    with pytest.raises(MissingDataError, match=command) as err:
        _dataset(root)
    assert 'dsm_dir' in str(err.value) and '--dsm-only' in str(err.value)
    # One clip short: the error names it.
    shutil.copytree(osp.join(converted['potsdam']['clips'], 'dsm_dir'),
                    osp.join(root, 'dsm_dir'))
    os.remove(osp.join(root, 'dsm_dir', 'train', '2_10_64_64_128_128.tif'))
    with pytest.raises(MissingDataError,
                       match='1 of 9 optical clips') as err:
        _dataset(root)
    assert '2_10_64_64_128_128.tif' in str(err.value)
    # An item without its DSM reaching the transform.
    load = TRANSFORMS.build(dict(type='LoadMultimodalClip',
                                 modalities=('optical', 'dsm')))
    with pytest.raises(MissingDataError, match='isprs_multimodal.py'):
        load(dict(img_path=osp.join(root, 'img_dir', 'train',
                                    '2_10_0_0_64_64.png')))


def test_dsm_only_completes_existing_mmseg_clips(converted, converter,
                                                tmp_path):
    """--dsm-only next to MMSeg's folders.

    The same DSM clips, nothing else written.
    """
    potsdam = converted['potsdam']
    root = str(tmp_path / 'mmseg_only')
    for folder in ('img_dir', 'ann_dir'):
        shutil.copytree(osp.join(potsdam['clips'], folder),
                        osp.join(root, folder))
    before = {f: _stems(osp.join(root, f, 'train'))
              for f in ('img_dir', 'ann_dir')}
    converter['main'](['potsdam', potsdam['original'], '-o', root,
                       '--clip-size', str(CLIP), '--stride-size',
                       str(STRIDE), '--dsm-only'])
    for split in ('train', 'val'):
        names = sorted(os.listdir(osp.join(root, 'dsm_dir', split)))
        assert names == sorted(
            os.listdir(osp.join(potsdam['clips'], 'dsm_dir', split)))
        for name in names:
            with rasterio.open(osp.join(root, 'dsm_dir', split, name)) as a, \
                    rasterio.open(osp.join(potsdam['clips'], 'dsm_dir',
                                           split, name)) as b:
                np.testing.assert_array_equal(a.read(), b.read())
    assert before == {f: _stems(osp.join(root, f, 'train'))
                      for f in ('img_dir', 'ann_dir')}
    assert len(_dataset(root)) == 9


def test_converter_error_without_tiles(converter, tmp_path):
    with raises_user_error(MissingDataError, '2_Ortho_RGB'):
        converter['main'](['potsdam', str(tmp_path), '-o',
                           str(tmp_path / 'out')])


def test_converter_refuses_existing_clips_and_inputs(converted, converter,
                                                     tmp_path):
    """Existing clips need --overwrite; an original tile, never.

    Every clip is checked before the first is written: a refused run
    leaves the folder as it was.
    """
    potsdam = converted['potsdam']
    root = tmp_path / 'clips'
    shutil.copytree(potsdam['clips'], root)
    kept = root / 'ann_dir' / 'val' / '2_13_0_0_64_64.png'
    kept.write_bytes(b'my edited label')
    argv = ['potsdam', potsdam['original'], '-o', str(root), '--clip-size',
            str(CLIP), '--stride-size', str(STRIDE)]
    with raises_user_error(OutputOverwriteError,
                           r'2_10_0_0_64_64\.png \(img_dir clip of tile '
                           r'2_10\) already exists; pass --overwrite'):
        converter['main'](argv)
    assert kept.read_bytes() == b'my edited label'
    # A clip name that links to an original tile.
    clip = root / 'dsm_dir' / 'train' / '2_10_0_0_64_64.tif'
    clip.unlink()
    dsm_tile = next(osp.join(folder, name)
                    for folder, _, names in os.walk(potsdam['original'])
                    for name in names if name == 'dsm_potsdam_02_10.tif')
    os.symlink(dsm_tile, clip)
    with raises_user_error(OutputOverwriteError,
                           r'is the input dsm tile 2_10 .*never replaces'):
        converter['main'](argv + ['--overwrite'])
    clip.unlink()
    counts = converter['main'](argv + ['--overwrite'])
    assert counts == potsdam['counts']
    assert kept.read_bytes() != b'my edited label'


#: A random-weight DINOv2-style ViT: 64 wide, 4 blocks, /14 patches.
TINY_FOUNDATION = dict(
    source='timm', name='vit_small_patch14_dinov2', pretrained=None,
    model_kwargs=dict(img_size=56, depth=4, embed_dim=64, num_heads=2))


def _tiny_runner(config, clips_root, work_dir):
    """The leaf config shrunk to one iteration + validation on 9 clips."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mobanet', config))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.foundation_model = copy.deepcopy(TINY_FOUNDATION)
    cfg.model.backbone.tap_indices = (0, 1, 2, 3)
    cfg.model.neck.in_channels = 64
    cfg.model.data_preprocessor.size = (28, 28)
    cfg.model.test_cfg = dict(mode='whole')
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.data_root = clips_root
        loader.num_workers = 0
        loader.persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.pipeline[2].crop_size = (28, 28)
    cfg.train_cfg.max_iters = 1
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0,
                                by_epoch=False)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    channels = []

    class RecordInputChannels(Hook):

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            channels.extend(x.shape[0] for x in data_batch['inputs'])

    runner.register_hook(RecordInputChannels())
    return runner, channels


@pytest.mark.parametrize('config, input_channels, missing', [
    ('mobanet_potsdam_clips.py', 4, []),
    ('mobanet_potsdam_clips_optical_only.py', 3, ['dsm']),
])
@pytest.mark.slow
def test_train_step_and_validation_through_runner(converted, tmp_path,
                                                  config, input_channels,
                                                  missing):
    runner, channels = _tiny_runner(config, converted['potsdam']['clips'],
                                    tmp_path)
    model = runner.model
    assert model.data_preprocessor.missing_modalities == missing
    trainable = model.neck.projections[0][0].weight.clone()
    runner.train()
    assert channels == [input_channels, input_channels]
    assert not torch.equal(model.neck.projections[0][0].weight, trainable)
    # MCRM balances two modalities; with one there is nothing to mask.
    assert (model.data_preprocessor.mcrm is not None) == (not missing)
    metrics = runner.val_loop.run()
    assert 0 <= metrics['OA'] <= 100 and 'mIoU' in metrics
    if missing:
        # 3 optical channels become the 4-channel layout, DSM zero.
        optical = torch.rand(3, 8, 8) * 255
        full = model.data_preprocessor.normalize_sample(optical)
        assert full.shape == (4, 8, 8)
        assert torch.count_nonzero(full[3]) == 0
        assert torch.count_nonzero(full[:3]) > 0
