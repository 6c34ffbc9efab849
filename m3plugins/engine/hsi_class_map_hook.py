"""Write whole-scene classification maps when testing HSI classifiers.

Issue item 6 for SpectralMamba (arXiv 2404.08489) and M3amba
(arXiv 2503.06446) configs: ``tools/test.py`` (or ``mim test mmseg``) writes
each scene's map as a colour PNG with a legend and as a class raster.
"""
import os.path as osp
from collections.abc import Sequence

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from m3plugins.io.class_map_writing import save_class_map

__all__ = ['HSIClassMapHook']


@HOOKS.register_module()
class HSIClassMapHook(Hook):
    """Stitch test predictions into scene maps and save them.

    Every test sample must carry the window metainfo of
    :class:`~m3plugins.datasets.HSISceneDataset` (``window = (y0, x0, h,
    w)`` in scene coordinates, ``scene_shape``, ``img_path`` naming the
    scene; pack them with ``PackSegInputs(meta_keys=...)``). Prediction
    pixel (i, j) of a sample goes to scene pixel (y0 + i, x0 + j); pixels
    outside the scene are dropped. With the ``'whole'`` protocol one sample
    is the whole scene; with crops, windows are pasted in test order (a
    later window overwrites an overlap; the default test grids do not
    overlap) and scene pixels that no window covers stay 0.

    Written per scene, after the test epoch, into ``out_dir``:

    * ``<scene>_class_map.png``: the map in the dataset palette with a
      legend of the class names (matplotlib);
    * ``<scene>_class_map.tif`` (one-band GeoTIFF on the scene's grid) when
      the test dataset's ``scene`` has a ``transform`` and a ``crs`` (an
      :class:`~m3plugins.datasets.hsi.HSIScene` read from georeferenced
      GeoTIFFs), else ``<scene>_class_map.npy``: labels 1..K as in the label
      files, 0 where nothing was predicted.

    Args:
        out_dir (str, optional): Output folder. None: the test evaluator's
            ``output_dir`` when set (``tools/test.py --out DIR``), else
            ``<work_dir>/<timestamp>/class_maps``.
        dpi (int): PNG resolution. Default: 150.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str | None = None, dpi: int = 150) -> None:
        self.out_dir = out_dir
        self.dpi = dpi
        self._maps: dict[str, np.ndarray] = {}
        self.written: dict[str, dict[str, str]] = {}

    def before_test(self, runner) -> None:
        """Forget the maps of a previous test run.

        Args:
            runner: The mmengine runner.
        """
        self._maps = {}
        self.written = {}

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch=None,
                        outputs: Sequence | None = None) -> None:
        """Paste each sample's prediction into its scene's map.

        Args:
            runner: The mmengine runner.
            batch_idx: Index of the batch.
            data_batch: The batch (unused).
            outputs: ``SegDataSample`` predictions with the window metainfo.

        Raises:
            KeyError: If a sample lacks ``window`` / ``scene_shape``.
        """
        for sample in outputs or ():
            meta = sample.metainfo
            if 'window' not in meta or 'scene_shape' not in meta:
                raise KeyError(
                    'HSIClassMapHook needs the window metainfo of '
                    "HSISceneDataset: add 'window' and 'scene_shape' to "
                    "PackSegInputs' meta_keys.")
            name = str(meta.get('img_path', 'scene')).split(':')[0]
            height, width = meta['scene_shape']
            canvas = self._maps.setdefault(
                name, np.zeros((height, width), np.int64))
            pred = sample.pred_sem_seg.data[0].cpu().numpy() + 1
            y0, x0 = int(meta['window'][0]), int(meta['window'][1])
            rows = slice(max(y0, 0), min(y0 + pred.shape[0], height))
            cols = slice(max(x0, 0), min(x0 + pred.shape[1], width))
            canvas[rows, cols] = pred[rows.start - y0:rows.stop - y0,
                                      cols.start - x0:cols.stop - x0]

    def _out_dir(self, runner) -> str:
        if self.out_dir is not None:
            return self.out_dir
        evaluator = getattr(runner, 'test_evaluator', None)
        for metric in getattr(evaluator, 'metrics', ()):
            folder = getattr(metric, 'output_dir', None)
            if folder:
                return folder
        return osp.join(runner.log_dir, 'class_maps')

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Write every scene's map (main process only).

        Args:
            runner: The mmengine runner (its test dataset gives the class
                names, palette and georeference).
            metrics: The test metrics (unused).
        """
        if not is_main_process() or not self._maps:
            return
        dataset = runner.test_dataloader.dataset
        meta = dataset.metainfo
        scene = getattr(dataset, 'scene', None)
        georeference = None
        if getattr(scene, 'transform', None) is not None and \
                getattr(scene, 'crs', None) is not None:
            georeference = dict(transform=scene.transform, crs=scene.crs)
        folder = self._out_dir(runner)
        for name, class_map in self._maps.items():
            self.written[name] = save_class_map(
                class_map,
                osp.join(folder, f'{name}_class_map'),
                classes=meta['classes'],
                palette=meta['palette'],
                title=f'{name}: predicted classes',
                georeference=georeference,
                dpi=self.dpi)
            print_log(
                f'Class map of {name} written to '
                f'{self.written[name]["png"]} and '
                f'{self.written[name]["map"]}', logger='current')
