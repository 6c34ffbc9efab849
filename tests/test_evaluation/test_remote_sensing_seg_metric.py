"""RemoteSensingSegMetric against values worked out by hand."""
import json
import os

import numpy as np
import pytest
import torch
from mmseg.registry import METRICS
from PIL import Image

import m3plugins  # noqa: F401
from m3plugins.evaluation.remote_sensing_seg_metric import confusion_matrix

CLASSES = ('road', 'roof', 'clutter')
PALETTE = [[255, 255, 255], [0, 0, 255], [255, 0, 0]]
# ground truth / prediction, 255 = ignored
GT = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 0]])
PRED = torch.tensor([[0, 1, 1, 1], [2, 0, 0, 0]])
# By hand: valid pixels 7; confusion rows=gt [[2,1,0],[0,2,0],[1,0,1]].
# tp=[2,2,1], gt=[3,2,2], pred=[3,3,1]
# IoU = [2/4, 2/3, 1/2]; F1 = [4/6, 4/5, 2/3]; OA = 5/7;
# p_e = (3*3 + 2*3 + 2*1)/49 = 17/49; Kappa = (5/7 - 17/49)/(1 - 17/49) = 18/32
IOU = [50.0, 66.67, 50.0]
F1 = [66.67, 80.0, 66.67]


def evaluate(tmp_path=None, **kwargs):
    metric = METRICS.build(dict(type='RemoteSensingSegMetric', **kwargs))
    metric.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    metric.process({}, [
        dict(pred_sem_seg=dict(data=PRED[None]),
             gt_sem_seg=dict(data=GT[None]),
             img_path='/data/top_potsdam_2_13_RGB.tif')
    ])
    return metric.evaluate(1)


def test_all_classes_by_hand():
    m = evaluate()
    assert m['OA'] == 71.43 and m['Kappa'] == 56.25
    assert m['mIoU'] == round((0.5 + 2 / 3 + 0.5) / 3 * 100, 2) == 55.56
    assert m['mF1'] == round((2 / 3 + 0.8 + 2 / 3) / 3 * 100, 2) == 71.11
    assert [m[f'IoU.{c}'] for c in CLASSES] == IOU
    assert [m[f'F1.{c}'] for c in CLASSES] == F1
    assert 'mIoU_all' not in m


@pytest.mark.parametrize('subset', [('road', 'roof'), (0, 1)])
def test_mean_over_class_subset(subset):
    m = evaluate(mean_classes=subset, per_class_metrics=False)
    assert m['mIoU'] == round((0.5 + 2 / 3) / 2 * 100, 2) == 58.33
    assert m['mF1'] == round((2 / 3 + 0.8) / 2 * 100, 2) == 73.33
    # OA and Kappa still over all classes; the all-class means kept beside.
    assert m['OA'] == 71.43 and m['Kappa'] == 56.25
    assert m['mIoU_all'] == 55.56
    assert 'IoU.road' not in m


def test_bad_arguments():
    with pytest.raises(ValueError, match='not a class'):
        evaluate(mean_classes=('road', 'water'))
    with pytest.raises(ValueError, match='outside'):
        evaluate(mean_classes=(0, 7))
    with pytest.raises(ValueError, match='output_dir'):
        METRICS.build(dict(type='RemoteSensingSegMetric', keep_results=True))
    with pytest.raises(ValueError, match='0..2'):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3, 255)
    with pytest.raises(ValueError, match='shape'):
        confusion_matrix(torch.zeros(2, 2), torch.zeros(2, 3), 3, 255)


def test_output_dir_and_kept_results(tmp_path):
    out = str(tmp_path / 'out')
    evaluate(output_dir=out, keep_results=True)
    with open(os.path.join(out, 'metrics.json')) as f:
        report = json.load(f)
    assert report['confusion_matrix'] == [[2, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert report['per_class']['IoU'] == IOU
    png = Image.open(os.path.join(out, 'top_potsdam_2_13_RGB.png'))
    assert png.mode == 'P'
    np.testing.assert_array_equal(np.array(png), PRED.numpy())
    assert png.getpalette()[3:6] == PALETTE[1]


def test_counts_stay_exact_beyond_float32_histc():
    """A class of more than 2**24 pixels (a whole Potsdam tile has 36 M)."""
    side = 4097  # 16,785,409 pixels > 2**24 = 16,777,216
    label = torch.zeros(side, side, dtype=torch.uint8)
    label[0, :3] = 255
    matrix = confusion_matrix(label, label, 6, 255)
    assert matrix[0, 0] == side * side - 3 and matrix.sum() == side * side - 3
    # (MMSeg's IoUMetric.intersect_and_union counts this in float32 with
    # torch.histc and is off; see the metric's module docstring.)
