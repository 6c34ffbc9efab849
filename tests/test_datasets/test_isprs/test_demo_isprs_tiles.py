"""The built-in optical + DSM demo tiles in the ISPRS Potsdam layout."""
import json
import os

import numpy as np
import pytest
import rasterio

from m3plugins.datasets.isprs import POTSDAM_SPLITS, ISPRSPotsdam
from m3plugins.demo.isprs_tiles import (
    DEMO_TEST_TILES,
    DEMO_TRAIN_TILES,
    make_demo_isprs,
)


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return make_demo_isprs(str(tmp_path_factory.mktemp('demo')),
                           tile_size=256)


def manifest(root):
    with open(os.path.join(root, 'demo_manifest.json')) as f:
        return json.load(f)


def test_real_tile_names_of_the_real_splits():
    assert set(DEMO_TRAIN_TILES) <= set(POTSDAM_SPLITS['train_mobanet'])
    assert set(DEMO_TEST_TILES) <= set(POTSDAM_SPLITS['test'])


@pytest.mark.parametrize('optical,channels', [('RGB', 3), ('IRRG', 3),
                                              ('RGBIR', 4)])
def test_readable_by_the_potsdam_dataset(demo_root, optical, channels):
    for tiles in (DEMO_TRAIN_TILES, DEMO_TEST_TILES):
        ds = ISPRSPotsdam(demo_root, tiles=tiles, optical=optical)
        assert len(ds) == len(tiles)
        assert ds[0]['image'].shape == (channels + 1, 256, 256)


def test_formats_match_the_real_data(demo_root):
    files = ISPRSPotsdam(demo_root, tiles=['2_10'], optical='RGBIR').files[0]
    expected = {files.optical: ('uint8', 4), files.dsm: ('float32', 1),
                files.label: ('uint8', 3)}
    for path, (dtype, count) in expected.items():
        with rasterio.open(path) as src:
            assert (src.dtypes[0], src.count) == (dtype, count), path


def test_scene_content_is_learnable_from_both_modalities(demo_root):
    full = ISPRSPotsdam(demo_root, tiles=DEMO_TRAIN_TILES, label_kind='full',
                        optical='RGBIR', dsm_normalization='none')
    eroded = ISPRSPotsdam(demo_root, tiles=DEMO_TRAIN_TILES)
    labels, images = [], []
    for i in range(len(full)):
        arrays = full.read(i)
        labels.append(arrays['label'])
        images.append(arrays['image'])
        no_boundary = eroded.read(i)['label']
        kept = no_boundary != 255
        assert 0.02 < 1 - kept.mean() < 0.5  # boundaries ignored
        np.testing.assert_array_equal(no_boundary[kept], arrays['label'][kept])
    labels, images = np.stack(labels), np.stack(images)
    assert set(np.unique(labels)) == set(range(6))  # every class occurs
    dsm, infrared = images[..., 4], images[..., 3]

    def mean(values, cls):
        return values[labels == cls].mean()

    # Heights: building > tree > car > road ~ low vegetation.
    assert mean(dsm, 1) > mean(dsm, 3) > mean(dsm, 4) > mean(dsm, 0) + 1
    # Vegetation is bright in the infrared, roads are not.
    assert mean(infrared, 3) > mean(infrared, 0) + 60


def test_deterministic_and_idempotent(tmp_path):
    first = make_demo_isprs(str(tmp_path / 'a'), tile_size=128)
    second = make_demo_isprs(str(tmp_path / 'b'), tile_size=128)
    assert manifest(first)['md5'] == manifest(second)['md5']
    dsm = os.path.join(first, '1_DSM', 'dsm_potsdam_02_10.tif')
    before = os.stat(dsm).st_mtime_ns
    make_demo_isprs(first, tile_size=128)
    assert os.stat(dsm).st_mtime_ns == before  # nothing rewritten
    other = make_demo_isprs(str(tmp_path / 'c'), seed=1, tile_size=128)
    assert manifest(other)['md5'] != manifest(first)['md5']
    # A damaged file is noticed and regenerated.
    with open(dsm, 'wb') as f:
        f.write(b'broken')
    make_demo_isprs(first, tile_size=128)
    assert manifest(first)['md5'] == manifest(second)['md5']
    with rasterio.open(dsm) as src:
        assert src.shape == (128, 128)
    with pytest.raises(ValueError, match='128'):
        make_demo_isprs(str(tmp_path / 'd'), tile_size=64)
