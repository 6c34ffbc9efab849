"""ISPRS MMSeg datasets and the window-reading loading transforms."""
import numpy as np
import pytest
import torch
from fake_data.isprs_tiles import FAKE_SIZE
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, TRANSFORMS
from torchgeo.datasets import DatasetNotFoundError

import m3plugins  # noqa: F401
from m3plugins.datasets.isprs import ISPRSPotsdam, dsm_statistics

init_default_scope('mmseg')

TRAIN_PIPELINE = [
    dict(type='LoadRandomMultimodalWindow', crop_size=(16, 24)),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackSegInputs')
]
TEST_PIPELINE = [dict(type='LoadMultimodalTile'), dict(type='PackSegInputs')]


def build(root, pipeline, **kwargs):
    return DATASETS.build(
        dict(type='ISPRSPotsdamDataset', data_root=root, pipeline=pipeline,
             **kwargs))


def test_names_do_not_collide_with_mmseg():
    assert DATASETS.get('ISPRSPotsdamDataset').__module__.startswith(
        'm3plugins')
    assert DATASETS.get('PotsdamDataset').__module__.startswith('mmseg')
    assert TRANSFORMS.get('LoadRandomMultimodalWindow') is not None


def test_train_items_are_random_windows(potsdam_root):
    root, _ = potsdam_root
    ds = build(root, TRAIN_PIPELINE, tiles=['2_10', '6_7'], optical='RGBIR')
    assert len(ds) == 2
    assert ds.metainfo['classes'][-1] == 'clutter'
    item = ds[0]
    assert item['inputs'].shape == (5, 16, 24)
    assert item['inputs'].dtype == torch.float32
    assert item['data_samples'].gt_sem_seg.data.shape == (1, 16, 24)
    info = ds.get_data_info(1)
    assert info['tile'] == '6_7'
    assert info['modality_channels'] == {'optical': 4, 'dsm': 1}
    assert info['dsm_edge_padding'] == 1  # Potsdam default
    stats = info['dsm_statistics']
    assert stats.maximum[0] == dsm_statistics(info['dsm_path']).maximum[0]


def test_window_transform_equals_whole_tile_region(potsdam_root):
    root, _ = potsdam_root
    ds = build(root, [], tiles=['6_7'])
    item = ds.get_data_info(0)
    whole = TRANSFORMS.build(dict(type='LoadMultimodalTile'))(dict(item))
    assert whole['img'].shape == FAKE_SIZE + (4, )
    assert whole['gt_seg_map'].dtype == np.uint8
    window = TRANSFORMS.build(
        dict(type='LoadRandomMultimodalWindow', crop_size=(16, 24)))
    np.random.seed(3)
    for _ in range(4):
        out = window(dict(item))
        r, c, h, w = out['crop_window']
        assert (h, w) == (16, 24) == out['img_shape']
        assert out['tile_shape'] == FAKE_SIZE
        np.testing.assert_array_equal(out['img'],
                                      whole['img'][r:r + h, c:c + w])
        np.testing.assert_array_equal(out['gt_seg_map'],
                                      whole['gt_seg_map'][r:r + h, c:c + w])
    # Without precomputed statistics the worker computes the same scaling.
    lazy = dict(item, dsm_statistics=None)
    np.testing.assert_array_equal(
        TRANSFORMS.build(dict(type='LoadMultimodalTile'))(lazy)['img'],
        whole['img'])


def test_window_larger_than_tile_reads_whole_axis(potsdam_root):
    root, _ = potsdam_root
    item = build(root, [], tiles=['2_10']).get_data_info(0)
    out = TRANSFORMS.build(
        dict(type='LoadRandomMultimodalWindow', crop_size=100))(item)
    assert out['img'].shape == FAKE_SIZE + (4, )
    with pytest.raises(ValueError, match='crop_size'):
        TRANSFORMS.build(
            dict(type='LoadRandomMultimodalWindow', crop_size=(0, 5)))


def test_test_items_are_whole_tiles(potsdam_root):
    root, scenes = potsdam_root
    ds = build(root, TEST_PIPELINE, tiles=['2_13'], test_mode=True,
               precompute_dsm_statistics=False)
    item = ds[0]
    assert item['inputs'].shape == (4, ) + FAKE_SIZE
    np.testing.assert_array_equal(item['data_samples'].gt_sem_seg.data[0],
                                  scenes['2_13']['eroded'])
    reference = ISPRSPotsdam(root, tiles=['2_13'])[0]['image']
    torch.testing.assert_close(item['inputs'], reference)


def test_missing_data_through_the_registry(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='2_Ortho_RGB.zip'):
        build(str(tmp_path), TRAIN_PIPELINE, split='train')


def test_vaihingen_dataset(vaihingen_root):
    root, _ = vaihingen_root
    ds = DATASETS.build(
        dict(type='ISPRSVaihingenDataset', data_root=root, tiles=['1'],
             pipeline=TRAIN_PIPELINE))
    assert ds[0]['inputs'].shape == (4, 16, 24)


def test_class_subset_metainfo_maps_other_classes_to_ignore(potsdam_root):
    root, scenes = potsdam_root
    ds = build(root, TEST_PIPELINE, tiles=['2_10'], label_kind='full',
               metainfo=dict(classes=('impervious_surfaces', 'building')))
    gt = ds[0]['data_samples'].gt_sem_seg.data[0].numpy()
    labels = scenes['2_10']['labels']
    np.testing.assert_array_equal(gt[labels == 1], 1)
    np.testing.assert_array_equal(gt[labels >= 2], 255)
    assert set(np.unique(gt)) <= {0, 1, 255}
