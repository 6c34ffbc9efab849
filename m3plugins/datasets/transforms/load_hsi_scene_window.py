"""Cut one window of an in-memory scene into MMSeg's ``results``.

Used with :class:`~m3plugins.datasets.hsi_scene_dataset.HSISceneDataset`,
whose samples carry a window instead of a file path. See that module for the
whole contract.
"""
from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ['LoadHSISceneWindow', 'cut_window']


def cut_window(array: np.ndarray,
               window: Sequence[int],
               fill_value=0,
               channels_first: bool = False) -> np.ndarray:
    """Copy a window of an (H, W[, C]) array; parts outside are filled.

    Args:
        array: (H, W) or (H, W, C) array.
        window: (y0, x0, h, w) in the array's coordinates; y0 / x0 may be
            negative and the window may extend past the far edges.
        fill_value: Value of the pixels outside the array (zero padding for
            images, the ignore index for labels).
        channels_first: For a 3-D array, store the copy channel-first and
            return its (h, w, C) view. MMSeg's ``PackSegInputs`` then turns
            it into a (C, h, w) tensor without another copy (its torch
            ``contiguous()`` path is slow for many channels).

    Returns:
        np.ndarray: (h, w[, C]) copy with the array's dtype.
    """
    y0, x0, h, w = (int(v) for v in window)
    if h <= 0 or w <= 0:
        raise ValueError(f'Window {tuple(window)} is empty.')
    top, left = max(y0, 0), max(x0, 0)
    bottom = min(y0 + h, array.shape[0])
    right = min(x0 + w, array.shape[1])
    inside = bottom > top and right > left
    if channels_first and array.ndim == 3:
        out = np.full((array.shape[2], h, w), fill_value, dtype=array.dtype)
        if inside:
            out[:, top - y0:bottom - y0, left - x0:right - x0] = \
                array[top:bottom, left:right].transpose(2, 0, 1)
        return out.transpose(1, 2, 0)
    out = np.full((h, w) + array.shape[2:], fill_value, dtype=array.dtype)
    if inside:
        out[top - y0:bottom - y0, left - x0:right - x0] = \
            array[top:bottom, left:right]
    return out


@TRANSFORMS.register_module()
class LoadHSISceneWindow(BaseTransform):
    """Cut ``results['window']`` of the scene into ``img`` and ``gt_seg_map``.

    Required keys (put there by ``HSISceneDataset.get_data_info``):
    ``scene_image`` (H, W, C) float32, ``scene_labels`` (H, W) uint8 with
    classes 0..K-1 and ``ignore_index`` elsewhere, ``window`` (y0, x0, h, w)
    in scene coordinates, ``center_only`` (bool), ``ignore_index``.

    Added keys: ``img`` (h, w, C) float32 (zeros outside the scene; an
    (h, w, C) view of a channel-first copy, see :func:`cut_window`),
    ``gt_seg_map`` (h, w) uint8 (``ignore_index`` outside the scene and, when
    ``center_only``, everywhere but the centre pixel ``(h // 2, w // 2)``),
    ``seg_fields`` (+ ``'gt_seg_map'``), ``img_shape``, ``ori_shape``.
    The scene arrays are removed from ``results`` so that they never reach
    the metainfo.

    Args:
        with_label: Also cut the label window (False for unlabeled inference).
    """

    def __init__(self, with_label: bool = True) -> None:
        self.with_label = with_label

    def transform(self, results: dict) -> dict:
        """Cut the image (and label) window out of the scene.

        Args:
            results: The result dict with the required keys above.

        Returns:
            dict: ``results`` with the added keys above and the scene arrays
            removed.
        """
        image = results.pop('scene_image')
        labels = results.pop('scene_labels', None)
        window = results['window']
        results['img'] = cut_window(image, window, 0, channels_first=True)
        results['img_shape'] = results['img'].shape[:2]
        results['ori_shape'] = results['img'].shape[:2]
        if self.with_label and labels is not None:
            ignore_index = results.get('ignore_index', 255)
            gt = cut_window(labels, window, ignore_index)
            if results.get('center_only', False):
                h, w = gt.shape
                centre = gt[h // 2, w // 2]
                gt.fill(ignore_index)
                gt[h // 2, w // 2] = centre
            results['gt_seg_map'] = gt
            results.setdefault('seg_fields', [])
            if 'gt_seg_map' not in results['seg_fields']:
                results['seg_fields'].append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(with_label={self.with_label})'
