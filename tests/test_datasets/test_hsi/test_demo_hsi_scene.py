"""The built-in demo scene: deterministic, idempotent, Houston2013-readable."""
import os

import numpy as np
from scipy.io import loadmat

from m3plugins.datasets.hsi import Houston2013
from m3plugins.demo.hsi_scene import (
    DEMO_NUM_CLASSES,
    DEMO_SCENE_SHAPE,
    make_demo_hsi_scene,
)


def test_read_by_houston2013(demo_root):
    scene = Houston2013(demo_root)
    assert scene.image.shape == DEMO_SCENE_SHAPE + (145, )
    assert scene.class_counts('train')[:DEMO_NUM_CLASSES].tolist() == \
        [20] * DEMO_NUM_CLASSES
    assert scene.class_counts('train')[DEMO_NUM_CLASSES:].sum() == 0
    test = scene.class_counts('test')
    assert (test[:DEMO_NUM_CLASSES] > 300).all()
    train, test_map = scene.label_maps['train'], scene.label_maps['test']
    assert not ((train > 0) & (test_map > 0)).any()
    assert (train + test_map == 0).mean() > 0.2  # unlabeled pixels exist


def test_deterministic_and_idempotent(tmp_path, demo_root):
    again = make_demo_hsi_scene(str(tmp_path / 'a'), seed=0)
    for name, key in [('HSI.mat', 'HSI'), ('TSLabel.mat', 'TSLabel')]:
        np.testing.assert_array_equal(
            loadmat(os.path.join(again, name))[key],
            loadmat(os.path.join(demo_root, name))[key])
    stamp = os.path.getmtime(os.path.join(again, 'HSI.mat'))
    make_demo_hsi_scene(again, seed=0)
    assert os.path.getmtime(os.path.join(again, 'HSI.mat')) == stamp
    # A damaged file is detected and the scene rewritten.
    with open(os.path.join(again, 'LiDAR.mat'), 'wb') as f:
        f.write(b'broken')
    make_demo_hsi_scene(again, seed=0)
    assert loadmat(os.path.join(again, 'LiDAR.mat'))['LiDAR'].shape == \
        DEMO_SCENE_SHAPE
    other = make_demo_hsi_scene(str(tmp_path / 'b'), seed=1)
    assert not np.array_equal(
        loadmat(os.path.join(other, 'TRLabel.mat'))['TRLabel'],
        loadmat(os.path.join(again, 'TRLabel.mat'))['TRLabel'])


def _nearest_class_mean(features, train, test):
    means = np.stack([features[train == k].mean(0)
                      for k in range(1, DEMO_NUM_CLASSES + 1)])
    pixels = features[test > 0]
    predicted = np.argmin(((pixels[:, None] - means[None])**2).sum(-1), 1)
    return (predicted + 1 == test[test > 0]).mean()


def test_fusion_needed(demo_root):
    """Only HSI and LiDAR together separate the demo scene's classes.

    Nearest class mean on the 20 training pixels per class: neither the HSI
    nor the LiDAR alone separates the classes, the two together do (chance
    is 1/7).
    """
    scene = Houston2013(demo_root)
    train, test = scene.label_maps['train'], scene.label_maps['test']
    hsi, lidar = scene.image[..., :144], scene.image[..., 144:]
    fused = np.concatenate([hsi, 6 * lidar], axis=-1)  # weight the 1 band
    hsi_oa = _nearest_class_mean(hsi, train, test)
    lidar_oa = _nearest_class_mean(lidar, train, test)
    fused_oa = _nearest_class_mean(fused, train, test)
    assert fused_oa > 0.9
    assert hsi_oa < 0.75 and lidar_oa < 0.6
    assert hsi_oa > 0.3 and lidar_oa > 0.3
