"""Remote-sensing segmentation metric: IoU, F1, OA and Kappa, papers' protocol.

API (registered in ``mmseg.registry.METRICS``):
    RemoteSensingSegMetric(ignore_index=255, mean_classes=None,
                           per_class_metrics=True, output_dir=None,
                           keep_results=False, collect_device='cpu',
                           prefix=None)

ISPRS papers (e.g. MoBaNet, arXiv 2603.17705) report per-class IoU and F1,
mIoU and mF1 averaged over the five classes *without clutter*, and overall
accuracy (OA) and Cohen's Kappa over *all* classes; MMSeg's ``IoUMetric``
averages over every class and has neither F1-mean naming nor Kappa. Here:

* ``mean_classes``: the classes the means run over, as names or indices
  (default None = all classes). Paper protocol on Potsdam / Vaihingen:
  ``mean_classes=('impervious_surfaces', 'building', 'low_vegetation',
  'tree', 'car')`` (or ``[0, 1, 2, 3, 4]``).
* Reported keys, all in percent rounded to 2 decimals like MMSeg: ``mIoU``,
  ``mF1`` (over ``mean_classes``), ``OA``, ``Kappa`` (all classes); when
  ``mean_classes`` is a strict subset also ``mIoU_all`` and ``mF1_all``;
  with ``per_class_metrics`` also ``IoU.<class>`` and ``F1.<class>``.
  A per-class table (IoU, F1, precision, recall, whether in the mean) goes to
  the log.
* Definitions from the accumulated confusion matrix C (rows: ground truth,
  columns: prediction; pixels labelled ``ignore_index`` are skipped):
  IoU_k = C_kk / (sum_j C_kj + sum_j C_jk - C_kk),
  F1_k = 2 C_kk / (sum_j C_kj + sum_j C_jk), OA = trace(C) / N,
  Kappa = (OA - p_e) / (1 - p_e) with p_e = sum_k (row_k * col_k) / N^2.
  A class absent from both ground truth and prediction has NaN IoU / F1 and
  is left out of the means (``nanmean``, as MMSeg does).

The per-sample statistics are MMSeg's intersection / union / areas in
spirit, but counted exactly with ``torch.bincount`` (int64) into a
confusion matrix: ``IoUMetric.intersect_and_union`` counts with
``torch.histc`` in float32, whose counts stop being exact above 2**24 =
16,777,216 pixels per class and sample, while a whole 6000 x 6000 Potsdam
tile has 36 M pixels (on the CPU a tile of one class counts 33,554,432
there; a 4097 x 4097 one 16,785,408). The confusion matrix is also what
Kappa needs.

Results: ``output_dir`` (``tools/test.py --out DIR`` sets it) receives
``metrics.json`` (summary, per-class values and the confusion matrix);
``keep_results=True`` (also set by ``--out``) additionally writes each
prediction as an indexed PNG named after the input image, with the dataset
palette (pixel values are class indices, viewers show the ISPRS colours).
"""
import json
import os
import os.path as osp
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS
from PIL import Image
from prettytable import PrettyTable

from m3plugins.utils.atomic_write import atomic_open, atomic_write_path

__all__ = ['RemoteSensingSegMetric', 'confusion_matrix',
           'scores_from_confusion']


def confusion_matrix(pred: torch.Tensor, label: torch.Tensor,
                     num_classes: int, ignore_index: int) -> torch.Tensor:
    """Exact pixel confusion matrix of one sample.

    Args:
        pred: (H, W) predicted class indices.
        label: (H, W) ground-truth indices; ``ignore_index`` is skipped.
        num_classes: K.
        ignore_index: Label value not scored.

    Returns:
        torch.Tensor: (K, K) int64 on the CPU, rows = ground truth.

    Raises:
        ValueError: For different shapes, or labels / predictions outside
            0..K-1 (labels other than ``ignore_index``).
    """
    if pred.shape != label.shape:
        raise ValueError(f'Prediction {tuple(pred.shape)} and label '
                         f'{tuple(label.shape)} differ in shape.')
    valid = label != ignore_index
    for name, values in (('label', label), ('prediction', pred)):
        outside = ((values < 0) | (values >= num_classes)) & valid
        if outside.any():
            bad = values[outside]
            raise ValueError(
                f'{name} values must lie in 0..{num_classes - 1} (or be '
                f'ignore_index={ignore_index} in the label), got '
                f'{int(bad.min())}..{int(bad.max())}.')
    # Ignored pixels go to one extra bin, so no boolean gather is needed.
    codes = torch.where(valid, label.long() * num_classes + pred.long(),
                        num_classes * num_classes)
    counts = torch.bincount(
        codes.reshape(-1), minlength=num_classes * num_classes + 1)
    counts = counts[:num_classes * num_classes]
    return counts.reshape(num_classes, num_classes).cpu()


def scores_from_confusion(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class and overall scores of a (K, K) confusion matrix.

    Args:
        matrix: Rows = ground truth, columns = prediction.

    Returns:
        dict: ``IoU``, ``F1``, ``Precision``, ``Recall`` (K,) fractions
        (NaN where undefined), ``OA`` and ``Kappa`` scalars.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    gt = matrix.sum(axis=1)
    pred = matrix.sum(axis=0)
    total = matrix.sum()
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = tp / (gt + pred - tp)
        f1 = 2 * tp / (gt + pred)
        precision = tp / pred
        recall = tp / gt
        oa = tp.sum() / total
        expected = (gt * pred).sum() / total**2
        kappa = (oa - expected) / (1 - expected)
    return dict(
        IoU=iou, F1=f1, Precision=precision, Recall=recall, OA=oa,
        Kappa=kappa)


@METRICS.register_module()
class RemoteSensingSegMetric(BaseMetric):
    """Per-class IoU / F1, mIoU / mF1 over a class subset, OA and Kappa.

    Args:
        ignore_index: Label value that is not scored.
        mean_classes: Classes (names from the dataset's ``classes`` or
            indices) that mIoU / mF1 average over; None = all. The ISPRS
            papers' protocol leaves out clutter.
        per_class_metrics: Also return ``IoU.<class>`` / ``F1.<class>``.
        output_dir: Directory for ``metrics.json`` (and predictions with
            ``keep_results``); None writes nothing.
        keep_results: Save each prediction as an indexed, palette PNG in
            ``output_dir``.
        collect_device: ``'cpu'`` or ``'gpu'``, for distributed collection.
        prefix: Prefix of the metric names.

    Raises:
        ValueError: If ``keep_results`` without ``output_dir``.
    """

    def __init__(self,
                 ignore_index: int = 255,
                 mean_classes: Sequence[str | int] | None = None,
                 per_class_metrics: bool = True,
                 output_dir: str | None = None,
                 keep_results: bool = False,
                 collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if keep_results and not output_dir:
            raise ValueError('keep_results=True needs an output_dir.')
        self.ignore_index = ignore_index
        self.mean_classes = None if mean_classes is None else list(
            mean_classes)
        self.per_class_metrics = per_class_metrics
        self.output_dir = output_dir
        self.keep_results = keep_results
        if output_dir and is_main_process():
            os.makedirs(output_dir, exist_ok=True)

    def _mean_indices(self, class_names: Sequence[str]) -> list[int]:
        if self.mean_classes is None:
            return list(range(len(class_names)))
        indices = []
        for item in self.mean_classes:
            if isinstance(item, str):
                if item not in class_names:
                    raise ValueError(
                        f'mean_classes names {item!r}, which is not a class '
                        f'of the dataset {list(class_names)}.')
                indices.append(list(class_names).index(item))
            else:
                if not 0 <= int(item) < len(class_names):
                    raise ValueError(
                        f'mean_classes index {item} is outside 0..'
                        f'{len(class_names) - 1}.')
                indices.append(int(item))
        if not indices:
            raise ValueError('mean_classes is empty.')
        return sorted(set(indices))

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Accumulate one confusion matrix per sample.

        Args:
            data_batch: The batch (unused).
            data_samples: Model outputs with ``pred_sem_seg`` and
                ``gt_sem_seg`` (each ``data`` of shape (1, H, W)).
        """
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0)
            label = sample['gt_sem_seg']['data'].squeeze(0).to(pred.device)
            self.results.append(
                confusion_matrix(pred, label, num_classes, self.ignore_index))
            if self.keep_results:
                self._save_prediction(sample, pred)

    def _save_prediction(self, sample: dict, pred: torch.Tensor) -> None:
        name = osp.splitext(osp.basename(sample['img_path']))[0]
        # putpalette turns the 8-bit 'L' image into a 'P' (palette) one.
        image = Image.fromarray(pred.cpu().numpy().astype(np.uint8))
        palette = np.zeros((256, 3), dtype=np.uint8)
        colours = self.dataset_meta.get('palette')
        if colours:
            palette[:len(colours)] = np.asarray(colours, dtype=np.uint8)
        image.putpalette(palette.reshape(-1).tolist())
        with atomic_write_path(osp.join(self.output_dir,
                                        f'{name}.png')) as temp_path:
            image.save(temp_path, format='PNG')

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Scores of the summed confusion matrix; logs the per-class table.

        Args:
            results: (K, K) confusion matrices of all samples.

        Returns:
            dict[str, float]: Metric name -> value in percent.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        class_names = list(self.dataset_meta['classes'])
        in_mean = self._mean_indices(class_names)
        matrix = torch.stack(results).sum(0).numpy()
        scores = scores_from_confusion(matrix)

        def percent(value) -> float:
            return float(np.round(value * 100, 2))

        def mean(values, indices) -> float:
            chosen = values[indices]
            if np.isnan(chosen).all():
                return float('nan')
            return percent(np.nanmean(chosen))

        metrics = OrderedDict()
        metrics['mIoU'] = mean(scores['IoU'], in_mean)
        metrics['mF1'] = mean(scores['F1'], in_mean)
        metrics['OA'] = percent(scores['OA'])
        metrics['Kappa'] = percent(scores['Kappa'])
        everything = list(range(len(class_names)))
        if in_mean != everything:
            metrics['mIoU_all'] = mean(scores['IoU'], everything)
            metrics['mF1_all'] = mean(scores['F1'], everything)
        if self.per_class_metrics:
            for k, name in enumerate(class_names):
                metrics[f'IoU.{name}'] = percent(scores['IoU'][k])
                metrics[f'F1.{name}'] = percent(scores['F1'][k])

        table = PrettyTable()
        table.add_column('Class', class_names)
        for key in ('IoU', 'F1', 'Precision', 'Recall'):
            table.add_column(key, [percent(v) for v in scores[key]])
        table.add_column('in mean',
                         ['yes' if k in in_mean else 'no'
                          for k in everything])
        print_log('per class results:', logger)
        print_log('\n' + table.get_string(), logger=logger)
        summary = ', '.join(
            f'{key} {metrics[key]:.2f}'
            for key in ('mIoU', 'mF1', 'OA', 'Kappa'))
        print_log(
            f'{summary} (means over {len(in_mean)} of {len(class_names)} '
            'classes; OA and Kappa over all)', logger)

        if self.output_dir and is_main_process():
            report = dict(
                metrics=metrics,
                classes=class_names,
                mean_classes=[class_names[k] for k in in_mean],
                per_class={
                    key: [percent(v) for v in scores[key]]
                    for key in ('IoU', 'F1', 'Precision', 'Recall')
                },
                confusion_matrix=matrix.astype(int).tolist())
            with atomic_open(osp.join(self.output_dir, 'metrics.json'),
                             'w') as f:
                json.dump(report, f, indent=2)
        return metrics
