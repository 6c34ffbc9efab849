"""Overall accuracy, average accuracy and Cohen's kappa for HSI classification.

The figures hyperspectral papers report (SpectralMamba, arXiv 2404.08489;
M3amba, arXiv 2503.06446), computed over the labeled test
pixels only, from one confusion matrix ``M`` (rows: reference class, columns:
predicted class) accumulated over all samples:

* OA = trace(M) / sum(M), in percent.
* Per-class accuracy (producer's accuracy, recall) of class k =
  M[k, k] / sum(M[k, :]), in percent; classes without test pixels get NaN
  and are left out of AA.
* AA = mean of the per-class accuracies, in percent.
* Kappa = (p_o - p_e) / (1 - p_e) with p_o = OA / 100 and
  p_e = sum_k (row_k * col_k) / N^2, as a fraction in [-1, 1] (the papers'
  unit, e.g. 0.8864).

Pixels whose reference label is ``ignore_index`` (unlabeled, other split,
padding) are excluded. A window-based protocol with overlapping test windows
counts a pixel once per window; HSISceneDataset's default test grid does not
overlap.
"""
import json
import os.path as osp
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.utils import mkdir_or_exist
from mmseg.registry import METRICS

from m3plugins.utils.atomic_write import atomic_open

__all__ = ['HSIClassificationMetric', 'classification_scores']


def classification_scores(confusion: np.ndarray) -> dict[str, object]:
    """OA, AA, Kappa and per-class accuracy of a confusion matrix.

    Args:
        confusion: (K, K) counts, rows = reference, columns = prediction.

    Returns:
        dict: ``OA`` and ``AA`` (percent), ``Kappa`` (fraction), and
        ``per_class`` (K,) accuracies in percent (NaN without test pixels).
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum()
    if total == 0:
        raise ValueError('No labeled pixel was evaluated; check the split '
                         'and ignore_index.')
    rows, cols = confusion.sum(1), confusion.sum(0)
    correct = np.diag(confusion)
    with np.errstate(invalid='ignore', divide='ignore'):
        per_class = np.where(rows > 0, correct / rows, np.nan)
    observed = correct.sum() / total
    expected = float((rows * cols).sum()) / total**2
    kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    return dict(
        OA=100 * observed,
        AA=100 * float(np.nanmean(per_class)),
        Kappa=float(kappa),
        per_class=100 * per_class)


@METRICS.register_module()
class HSIClassificationMetric(BaseMetric):
    """OA / AA / Kappa over labeled pixels, with per-class accuracy.

    Logs a table of per-class accuracy and test-pixel counts and the
    confusion matrix; returns ``OA``, ``AA``, ``Kappa`` and ``acc_<class>``
    for every class with test pixels (``save_best='OA'`` works in
    CheckpointHook).

    Args:
        ignore_index: Reference label excluded from evaluation.
        num_classes: Number of classes; ``None`` takes it from
            ``dataset_meta['classes']``.
        per_class_keys: Also return ``acc_<class name>`` entries.
        output_dir: If given, ``compute_metrics`` writes
            ``hsi_metrics.json`` (scores, class names, confusion matrix) there
            (``tools/test.py --out DIR`` sets it).
        keep_results: Accepted for ``tools/test.py --out``; the metric keeps
            only the accumulated confusion matrix, so it changes nothing.
        collect_device: Device used to collect results across ranks.
        prefix: Prefix of the returned metric names.
    """
    default_prefix: str | None = None

    def __init__(self,
                 ignore_index: int = 255,
                 num_classes: int | None = None,
                 per_class_keys: bool = True,
                 output_dir: str | None = None,
                 keep_results: bool = False,
                 collect_device: str = 'cpu',
                 prefix: str | None = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        self.per_class_keys = per_class_keys
        self.output_dir = output_dir
        self.keep_results = keep_results

    def _classes(self) -> Sequence[str]:
        meta = self.dataset_meta or {}
        classes = meta.get('classes')
        if classes is not None:
            if self.num_classes is not None and \
                    len(classes) != self.num_classes:
                raise ValueError(
                    f'num_classes={self.num_classes} but the dataset has '
                    f'{len(classes)} classes.')
            return list(classes)
        if self.num_classes is None:
            raise ValueError('HSIClassificationMetric needs num_classes or a '
                             "dataset_meta with 'classes'.")
        return [f'class {k}' for k in range(self.num_classes)]

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Accumulate one (K, K) confusion matrix per sample.

        Args:
            data_batch: The batch (unused).
            data_samples: Model outputs with ``pred_sem_seg.data`` (1, H, W)
                and ``gt_sem_seg.data`` (1, H, W).
        """
        num_classes = len(self._classes())
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred.device)
            if pred.shape != label.shape:
                raise ValueError(f'Prediction {tuple(pred.shape)} and label '
                                 f'{tuple(label.shape)} differ in shape.')
            keep = label != self.ignore_index
            label, pred = label[keep].long(), pred[keep].long()
            if label.numel() and (label.max() >= num_classes
                                  or label.min() < 0):
                raise ValueError(
                    f'Reference labels must lie in [0, {num_classes}) or be '
                    f'ignore_index {self.ignore_index}; got '
                    f'{int(label.min())}..{int(label.max())}.')
            if pred.numel() and (pred.max() >= num_classes or pred.min() < 0):
                raise ValueError(
                    f'Predicted labels must lie in [0, {num_classes}).')
            confusion = torch.bincount(
                label * num_classes + pred,
                minlength=num_classes**2).reshape(num_classes, num_classes)
            self.results.append(confusion.cpu().numpy())

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Sum the confusion matrices and compute the scores."""
        classes = self._classes()
        if not results:
            raise ValueError('HSIClassificationMetric got no samples; is the '
                             'evaluation dataset empty?')
        confusion = np.sum(results, axis=0)
        scores = classification_scores(confusion)
        logger = MMLogger.get_current_instance()
        logger.info(self._table(classes, confusion, scores))

        metrics = OrderedDict(
            OA=round(scores['OA'], 4),
            AA=round(scores['AA'], 4),
            Kappa=round(scores['Kappa'], 6))
        if self.per_class_keys:
            for name, acc in zip(classes, scores['per_class']):
                if not np.isnan(acc):
                    metrics[f'acc_{name}'] = round(float(acc), 4)
        if self.output_dir and is_main_process():
            mkdir_or_exist(self.output_dir)
            with atomic_open(osp.join(self.output_dir, 'hsi_metrics.json'),
                             'w') as f:
                json.dump(
                    dict(
                        OA=scores['OA'],
                        AA=scores['AA'],
                        Kappa=scores['Kappa'],
                        classes=list(classes),
                        per_class_accuracy=[
                            None if np.isnan(a) else float(a)
                            for a in scores['per_class']
                        ],
                        confusion_matrix=confusion.astype(int).tolist()),
                    f,
                    indent=1)
        return metrics

    @staticmethod
    def _table(classes, confusion: np.ndarray, scores: dict) -> str:
        width = max(len(c) for c in classes)
        lines = ['HSI classification, per class (reference pixels, '
                 'accuracy %):']
        for name, count, acc in zip(classes, confusion.sum(1),
                                    scores['per_class']):
            shown = '   n/a' if np.isnan(acc) else f'{acc:6.2f}'
            lines.append(f'  {name:<{width}}  {int(count):>8d}  {shown}')
        lines.append(f'OA {scores["OA"]:.2f}  AA {scores["AA"]:.2f}  '
                     f'Kappa {scores["Kappa"]:.4f}')
        lines.append('Confusion matrix (rows: reference, columns: '
                     'prediction):')
        lines.append(np.array2string(
            confusion.astype(np.int64), max_line_width=10**6,
            threshold=10**6))
        return '\n'.join(lines)
