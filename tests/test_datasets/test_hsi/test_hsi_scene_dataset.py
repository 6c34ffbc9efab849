"""HSISceneDataset protocols (crop / patch / whole) and LoadHSISceneWindow."""
import numpy as np
import pytest
import torch
from fake_data.hsi_scene_files import reference_crop_windows
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, TRANSFORMS

from m3plugins.datasets.hsi import Houston2013, Trento
from m3plugins.datasets.hsi_scene_dataset import HSISceneDataset, crop_grid
from m3plugins.datasets.transforms.load_hsi_scene_window import cut_window

META_KEYS = ('img_path', 'ori_shape', 'img_shape', 'flip', 'window',
             'scene_shape', 'reduce_zero_label')
PIPELINE = [dict(type='LoadHSISceneWindow'),
            dict(type='PackSegInputs', meta_keys=META_KEYS)]


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture
def trento(tmp_path, scene_writer):
    arrays = scene_writer(str(tmp_path), Trento, size=(30, 44), seed=3)
    return Trento(str(tmp_path)), arrays


@pytest.mark.parametrize('split,stride', [('train', 8), ('test', 32)])
def test_crop_protocol_windows_and_default_strides(trento, split, stride):
    scene, _ = trento
    ds = HSISceneDataset(scene, split=split, pipeline=PIPELINE)
    assert ds.stride == stride and ds.crop_size == 32 and ds.padding == 16
    labeled = scene.label_maps[split] > 0
    expected = reference_crop_windows(labeled, 32, stride, 16)
    assert [tuple(w) for w in ds.windows.tolist()] == expected
    assert len(ds) == len(expected)


def test_crop_kept_iff_it_contains_a_split_label():
    labeled = np.zeros((40, 40), bool)
    labeled[0, 0] = True
    windows = crop_grid(labeled, 32, 8, 16)
    # Origins -16, -8, 0 in each axis cover pixel (0, 0): 3 x 3 windows.
    assert sorted(map(tuple, windows[:, :2].tolist())) == [
        (y, x) for y in (-16, -8, 0) for x in (-16, -8, 0)]
    assert len(crop_grid(np.zeros((40, 40), bool), 32, 8, 16)) == 0


def test_test_grid_counts_every_test_pixel_exactly_once(trento):
    scene, _ = trento
    ds = HSISceneDataset(scene, split='test', pipeline=PIPELINE)
    height, width = scene.image.shape[:2]
    stitched = np.full((height, width), 255, np.int64)
    seen = np.zeros((height, width), np.int64)
    for i in range(len(ds)):
        sample = ds[i]
        y0, x0, h, w = sample['data_samples'].metainfo['window']
        gt = sample['data_samples'].gt_sem_seg.data[0].numpy()
        for i_, j_ in zip(*np.nonzero(gt != 255)):
            y, x = y0 + i_, x0 + j_
            assert 0 <= y < height and 0 <= x < width
            stitched[y, x] = gt[i_, j_]
            seen[y, x] += 1
    test = scene.label_maps['test']
    # Class k -> k - 1; everything else ignored; each pixel counted once.
    np.testing.assert_array_equal(stitched, np.where(test > 0, test - 1, 255))
    np.testing.assert_array_equal(seen, (test > 0).astype(np.int64))


def test_window_content_matches_the_scene(trento):
    scene, _ = trento
    ds = HSISceneDataset(scene, split='train', pipeline=PIPELINE)
    for index in (0, len(ds) // 2, len(ds) - 1):
        sample = ds[index]
        meta = sample['data_samples'].metainfo
        y0, x0, h, w = meta['window']
        image = sample['inputs']
        assert image.shape == (64, 32, 32) and image.dtype == torch.float32
        assert meta['scene_shape'] == (30, 44)
        assert meta['reduce_zero_label'] is False
        for i, j in [(0, 0), (16, 16), (31, 31), (5, 27)]:
            y, x = y0 + i, x0 + j
            inside = 0 <= y < 30 and 0 <= x < 44
            want = scene.image[y, x] if inside else np.zeros(64)
            np.testing.assert_allclose(image[:, i, j].numpy(), want)
            label = int(sample['data_samples'].gt_sem_seg.data[0, i, j])
            train = scene.label_maps['train'][y, x] if inside else 0
            assert label == (train - 1 if train else 255)


def test_patch_protocol_labels_only_the_centre(trento):
    scene, _ = trento
    ds = HSISceneDataset(scene, split='train', protocol='patch',
                         patch_size=7, pipeline=PIPELINE)
    train = scene.label_maps['train']
    ys, xs = np.nonzero(train)
    assert len(ds) == ys.size
    for index in (0, len(ds) - 1):
        sample = ds[index]
        y0, x0, h, w = sample['data_samples'].metainfo['window']
        assert (h, w) == (7, 7)
        assert (y0 + 3, x0 + 3) == (ys[index], xs[index])
        gt = sample['data_samples'].gt_sem_seg.data[0]
        assert int((gt != 255).sum()) == 1
        assert int(gt[3, 3]) == train[ys[index], xs[index]] - 1
        assert sample['inputs'].shape == (64, 7, 7)


def test_whole_protocol_is_one_padded_scene(trento):
    scene, _ = trento
    ds = HSISceneDataset(scene, split='test', protocol='whole', padding=4,
                         pipeline=PIPELINE)
    assert len(ds) == 1
    sample = ds[0]
    assert sample['inputs'].shape == (64, 38, 52)
    assert sample['data_samples'].metainfo['window'] == (-4, -4, 38, 52)
    torch.testing.assert_close(sample['inputs'][:, 4:-4, 4:-4],
                               torch.from_numpy(scene.image).permute(2, 0, 1))
    assert sample['inputs'][:, :4].abs().sum() == 0
    gt = sample['data_samples'].gt_sem_seg.data[0, 4:-4, 4:-4].numpy()
    test = scene.label_maps['test']
    np.testing.assert_array_equal(gt, np.where(test > 0, test - 1, 255))


def test_built_from_config_with_shared_scene_and_metainfo(tmp_path,
                                                          scene_writer):
    scene_writer(str(tmp_path), Houston2013)
    scene_cfg = dict(type='Houston2013', root=str(tmp_path),
                     modalities=('hsi', 'lidar'))
    pipeline = [dict(type='LoadHSISceneWindow'),
                dict(type='RandomFlip', prob=1.0),
                dict(type='PackSegInputs', meta_keys=META_KEYS)]
    train = DATASETS.build(dict(type='HSISceneDataset', scene=scene_cfg,
                                split='train', pipeline=pipeline))
    test = DATASETS.build(dict(type='HSISceneDataset', scene=scene_cfg,
                               split='test', pipeline=PIPELINE,
                               test_mode=True))
    assert train.scene is test.scene  # loaded and normalised once
    HSISceneDataset.clear_scene_cache()
    again = DATASETS.build(dict(type='HSISceneDataset', scene=scene_cfg,
                                pipeline=PIPELINE))
    assert again.scene is not train.scene
    uncached = DATASETS.build(dict(type='HSISceneDataset', scene=scene_cfg,
                                   cache_scene=False, pipeline=PIPELINE))
    assert uncached.scene is not again.scene
    assert train.metainfo['classes'] == Houston2013.classes
    assert len(train.metainfo['palette']) == 15
    assert train.metainfo['reduce_zero_label'] is False
    assert train.modality_channels == dict(hsi=144, lidar=1)
    sample = train[0]
    assert sample['data_samples'].metainfo['flip'] is True
    assert sample['inputs'].shape == (145, 32, 32)


def test_bad_arguments(trento):
    scene, _ = trento
    with pytest.raises(ValueError, match='reduce_zero_label'):
        HSISceneDataset(scene, reduce_zero_label=True)
    with pytest.raises(ValueError, match='protocol'):
        HSISceneDataset(scene, protocol='tiles')
    with pytest.raises(ValueError, match='odd'):
        HSISceneDataset(scene, protocol='patch', patch_size=8)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        HSISceneDataset(scene, split='val')
    with pytest.raises(ValueError, match='classes'):
        HSISceneDataset(scene, metainfo=dict(classes=('a', 'b')))
    with pytest.raises(KeyError, match='Houston2013'):
        HSISceneDataset(dict(type='Houston2031', root='x'))
    with pytest.raises(TypeError, match='HSIScene'):
        HSISceneDataset('Houston2013')


def test_cut_window_and_transform_without_labels():
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = cut_window(array, (-1, 2, 3, 3), fill_value=-1)
    np.testing.assert_array_equal(
        out, [[-1, -1, -1], [2, 3, -1], [6, 7, -1]])
    with pytest.raises(ValueError, match='empty'):
        cut_window(array, (0, 0, 0, 3))
    transform = TRANSFORMS.build(dict(type='LoadHSISceneWindow',
                                      with_label=False))
    results = transform(dict(scene_image=array[..., None],
                             scene_labels=np.zeros((3, 4), np.uint8),
                             window=(0, 0, 2, 2)))
    assert results['img'].shape == (2, 2, 1)
    assert 'gt_seg_map' not in results and 'scene_image' not in results


def test_channel_first_window_is_the_same_window():
    array = np.random.default_rng(0).random((6, 7, 5)).astype(np.float32)
    for window in [(-2, -1, 4, 4), (3, 4, 5, 5), (0, 0, 6, 7)]:
        plain = cut_window(array, window, 0)
        view = cut_window(array, window, 0, channels_first=True)
        np.testing.assert_array_equal(view, plain)
        assert view.transpose(2, 0, 1).flags.c_contiguous
