"""HSIClassificationMetric against values computed by hand."""
import json

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

from m3plugins.evaluation.hsi_classification_metric import (
    classification_scores,
)


def _sample(gt, pred):
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.tensor(gt)[None])
    sample.pred_sem_seg = PixelData(data=torch.tensor(pred)[None])
    return sample.to_dict()


def _metric(**kwargs):
    metric = METRICS.build(dict(type='HSIClassificationMetric', **kwargs))
    metric.dataset_meta = dict(classes=('water', 'trees', 'road'))
    return metric


def test_scores_by_hand():
    # Reference rows, predictions columns:
    #   water: 2 right, 1 as trees; trees: 1 as water, 1 right; road: 1 right
    # N = 6, correct = 4 -> OA = 66.667 %
    # per class: 2/3, 1/2, 1/1 -> AA = (66.667 + 50 + 100) / 3 = 72.222 %
    # p_e = (3*3 + 2*2 + 1*1) / 36 = 14/36; kappa = (4/6 - 14/36)/(1 - 14/36)
    #     = (24 - 14) / (36 - 14) = 10 / 22 = 0.454545
    metric = _metric()
    metric.process({}, [
        _sample([[0, 0, 0], [1, 255, 255]], [[0, 0, 1], [0, 2, 2]]),
        _sample([[1, 2]], [[1, 2]]),
    ])
    result = metric.evaluate(2)
    assert result['OA'] == pytest.approx(400 / 6, abs=1e-3)
    assert result['AA'] == pytest.approx((200 / 3 + 50 + 100) / 3, abs=1e-3)
    assert result['Kappa'] == pytest.approx(10 / 22, abs=1e-5)
    assert result['acc_water'] == pytest.approx(200 / 3, abs=1e-3)
    assert result['acc_trees'] == pytest.approx(50)
    assert result['acc_road'] == pytest.approx(100)


def test_confusion_matrix_function_and_missing_class():
    confusion = np.array([[5, 0, 0], [0, 0, 0], [1, 0, 4]])
    scores = classification_scores(confusion)
    assert scores['OA'] == pytest.approx(90)
    assert np.isnan(scores['per_class'][1])
    assert scores['AA'] == pytest.approx((100 + 80) / 2)  # NaN class left out
    # p_e = (5*6 + 0 + 5*4) / 100 = 0.5; kappa = (0.9 - 0.5) / 0.5
    assert scores['Kappa'] == pytest.approx(0.8)
    assert classification_scores(np.diag([3, 0, 0]))['Kappa'] == 1.0
    with pytest.raises(ValueError, match='No labeled pixel'):
        classification_scores(np.zeros((2, 2)))


def test_missing_class_has_no_key_and_log_shows_matrix(capsys):
    metric = _metric()
    metric.process({}, [_sample([[0, 2]], [[0, 1]])])
    result = metric.evaluate(1)
    assert 'acc_trees' not in result and result['acc_road'] == 0
    assert result['OA'] == pytest.approx(50)


def test_output_dir_and_keep_results_from_tools_test(tmp_path):
    metric = _metric(output_dir=str(tmp_path / 'out'), keep_results=True)
    metric.process({}, [_sample([[0, 1, 2]], [[0, 1, 1]])])
    metric.evaluate(1)
    saved = json.loads((tmp_path / 'out' / 'hsi_metrics.json').read_text())
    assert saved['confusion_matrix'] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert saved['classes'] == ['water', 'trees', 'road']
    assert saved['OA'] == pytest.approx(200 / 3)


def test_bad_inputs():
    metric = _metric()
    with pytest.raises(ValueError, match='differ in shape'):
        metric.process({}, [_sample([[0, 1]], [[0, 1, 1]])])
    with pytest.raises(ValueError, match=r'\[0, 3\)'):
        metric.process({}, [_sample([[5]], [[0]])])
    with pytest.raises(ValueError, match='Predicted'):
        metric.process({}, [_sample([[0]], [[7]])])
    wrong = _metric(num_classes=4)
    with pytest.raises(ValueError, match='num_classes=4'):
        wrong.process({}, [_sample([[0]], [[0]])])


def test_no_samples_is_a_clear_error():
    with pytest.raises(ValueError, match='no samples'):
        _metric().compute_metrics([])
