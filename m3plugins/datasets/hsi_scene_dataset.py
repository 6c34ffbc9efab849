"""Serve one hyperspectral scene to MMSeg as crops, patches or the whole scene.

Contract (stable; configs of SpectralMamba, M3amba and the demo rely on it)
===========================================================================

A scene (a :class:`~m3plugins.datasets.hsi.HSIScene`: Houston2013, MUUFL,
Augsburg, Trento, Botswana, WHUHiLongKou, IndianPines, PaviaUniversity,
Salinas, KennedySpaceCenter) is
read, normalised and stacked **once** and kept in memory (shared between the
train and val datasets of one process). Each sample is a *window* of it; the
registered transform ``LoadHSISceneWindow`` cuts the window, so the rest of
the pipeline is stock MMSeg::

    scene_cfg = dict(type='Houston2013', root='data/houston2013',
                     modalities=('hsi', 'lidar'),            # stacking order
                     normalization=dict(hsi='minmax', lidar='minmax'))
    meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape',
                 'scale_factor', 'flip', 'flip_direction',
                 'reduce_zero_label', 'window', 'scene_shape')
    train_dataloader = dict(
        batch_size=16, num_workers=2, persistent_workers=True,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(
            type='HSISceneDataset', scene=scene_cfg, split='train',
            protocol='crop', crop_size=32, stride=8, padding=16,
            pipeline=[dict(type='LoadHSISceneWindow'),
                      dict(type='RandomFlip', prob=0.5),
                      dict(type='PackSegInputs', meta_keys=meta_keys)]))
    val_dataloader = dict(
        batch_size=16, num_workers=2, persistent_workers=True,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='HSISceneDataset', scene=scene_cfg, split='test',
            protocol='crop', crop_size=32, stride=32, padding=16,
            pipeline=[dict(type='LoadHSISceneWindow'),
                      dict(type='PackSegInputs', meta_keys=meta_keys)]))
    val_evaluator = dict(type='HSIClassificationMetric')

Arguments ``scene`` may also be a built scene object. The model's
``modality_channels`` must match ``modalities`` (e.g. ``dict(hsi=144,
lidar=1)``); the data preprocessor should not reorder channels
(``bgr_to_rgb=False``) and, since the scene is already normalised,
``mean=None, std=None``.

Protocols (``protocol=``):

* ``'crop'`` (the official protocol of M3amba, arXiv 2503.06446, code
  kaka-Cao/M3amba): the scene is
  zero-padded by ``padding`` (16) on every side; windows of ``crop_size``
  (32) start at ``-padding`` and step by ``stride`` (default 8 for
  ``split='train'``, ``crop_size`` for ``'test'``). The grid is extended so
  that the last window reaches past ``H + padding`` (the extra rows and
  columns are zeros too): with ``stride == crop_size`` the windows tile the
  padded scene and every pixel is in exactly one window, so test metrics
  count each test pixel once. A window is kept iff it contains at least one
  labeled pixel of ``split``.
* ``'patch'`` (the classic protocol, e.g. patchwise SpectralMamba, arXiv
  2404.08489): one ``patch_size`` x ``patch_size``
  (odd, default 11) window centred on each labeled pixel of ``split``, in
  row-major order; only the centre pixel is labeled. Outside the scene is
  zero (image) / ignore (labels).
* ``'whole'``: one sample, the whole padded scene, window ``(-padding,
  -padding, H + 2 * padding, W + 2 * padding)``, labeled with ``split``: for
  whole-scene inference and testing.

Labels in every protocol: class k (1..K in the files) becomes k - 1;
unlabeled pixels, pixels of the other split and pixels outside the scene
become ``ignore_index`` (255). The labels are therefore already "reduced":
``reduce_zero_label`` must stay False (True raises) and no
``LoadAnnotations`` is used.

Metainfo of each sample (through ``PackSegInputs(meta_keys=...)`` as above):
``window = (y0, x0, h, w)`` in **scene coordinates** (y0 / x0 may be negative
inside the padding): prediction pixel (i, j) of a sample is scene pixel
(y0 + i, x0 + j), valid where 0 <= y0 + i < H and 0 <= x0 + j < W; this is
how predictions are stitched into a scene map (``window`` describes the
cut before any flip; test pipelines do not flip). ``scene_shape = (H, W)``.
``img_path`` is ``'<SceneClass>:<root>'`` (no file: keep
``SegVisualizationHook(draw=False)``, its default).

Dataset attributes useful to tools: ``scene`` (the HSIScene, with
``image``, ``label_maps``, ``modality_channels``), ``scene_labels`` (the
reduced (H, W) uint8 map of ``split``), ``windows`` ((N, 4) int array),
``metainfo`` (``classes``, ``palette`` of the scene).
"""
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .hsi import HSI_SCENES, HSIScene

__all__ = ['HSISceneDataset', 'PROTOCOLS', 'crop_grid', 'patch_windows']

#: Accepted ``protocol`` values.
PROTOCOLS = ('crop', 'patch', 'whole')

# Scenes built from a config, shared by datasets of one process (train and
# val use the same normalised cube). Small bound: scenes are large.
_SCENE_CACHE: 'OrderedDict[str, HSIScene]' = OrderedDict()
_SCENE_CACHE_SIZE = 2


def _grid_origins(length: int, crop: int, stride: int, padding: int):
    span = length + 2 * padding
    count = 1 if span <= crop else -(-(span - crop) // stride) + 1
    return -padding + stride * np.arange(count)


def crop_grid(labeled: np.ndarray, crop_size: int, stride: int,
              padding: int) -> np.ndarray:
    """Windows of the crop protocol that contain a labeled pixel.

    Args:
        labeled: (H, W) bool map of the split's labeled pixels.
        crop_size: Window side.
        stride: Grid step.
        padding: Zero padding on each side of the scene; the grid starts at
            ``-padding`` and is extended to cover ``H + padding``.

    Returns:
        np.ndarray: (N, 4) int64 windows (y0, x0, h, w), row-major order.
    """
    height, width = labeled.shape
    ys = _grid_origins(height, crop_size, stride, padding)
    xs = _grid_origins(width, crop_size, stride, padding)
    # Integral image over the scene: labels inside any window in O(1).
    integral = np.zeros((height + 1, width + 1), dtype=np.int64)
    integral[1:, 1:] = np.cumsum(np.cumsum(labeled, 0, dtype=np.int64), 1)
    y_lo = np.clip(ys, 0, height)
    y_hi = np.clip(ys + crop_size, 0, height)
    x_lo = np.clip(xs, 0, width)
    x_hi = np.clip(xs + crop_size, 0, width)
    counts = (integral[y_hi][:, x_hi] - integral[y_lo][:, x_hi] -
              integral[y_hi][:, x_lo] + integral[y_lo][:, x_lo])
    rows, cols = np.nonzero(counts > 0)
    windows = np.empty((rows.size, 4), dtype=np.int64)
    windows[:, 0] = ys[rows]
    windows[:, 1] = xs[cols]
    windows[:, 2:] = crop_size
    return windows


def patch_windows(labeled: np.ndarray, patch_size: int) -> np.ndarray:
    """Windows of the patch protocol, one centred on each labeled pixel.

    Args:
        labeled: (H, W) bool map of the split's labeled pixels.
        patch_size: Odd window side.

    Returns:
        np.ndarray: (N, 4) int64 windows (y0, x0, h, w), row-major order of
        the centre pixels.
    """
    ys, xs = np.nonzero(labeled)
    half = patch_size // 2
    windows = np.empty((ys.size, 4), dtype=np.int64)
    windows[:, 0] = ys - half
    windows[:, 1] = xs - half
    windows[:, 2:] = patch_size
    return windows


@DATASETS.register_module()
class HSISceneDataset(BaseSegDataset):
    """MMSeg dataset of windows of one in-memory hyperspectral scene.

    See the module docstring for the configuration contract.

    Args:
        scene: A scene config (``dict(type='Houston2013', root=...,
            modalities=..., normalization=...)``, built from ``HSI_SCENES``)
            or a built :class:`~m3plugins.datasets.hsi.HSIScene`.
        split: ``'train'`` or ``'test'``: whose labels the samples carry.
        protocol: ``'crop'``, ``'patch'`` or ``'whole'``.
        crop_size: Window side of the crop protocol (32, M3amba's).
        stride: Grid step of the crop protocol; ``None`` gives 8 for
            ``'train'`` and ``crop_size`` for ``'test'`` (M3amba's).
        padding: Zero padding around the scene for ``'crop'`` and
            ``'whole'`` (16, M3amba's).
        patch_size: Odd window side of the patch protocol (11, ours).
        cache_scene: Share the loaded scene between datasets built from the
            same scene config in this process (the last two scene configs
            are kept; :meth:`clear_scene_cache` frees them).
        pipeline: MMSeg pipeline; must start with ``LoadHSISceneWindow``.
        ignore_index: Label of unlabeled / other-split / outside pixels.
        reduce_zero_label: Must be False (labels are reduced here).
        metainfo: Optional override; its ``classes`` must equal the scene's.
        **kwargs: Other :class:`~mmseg.datasets.BaseSegDataset` arguments
            (``test_mode``, ``indices``, ``lazy_init``, ...).
    """
    METAINFO: dict = dict()

    def __init__(self,
                 scene: dict | HSIScene,
                 split: str = 'train',
                 protocol: str = 'crop',
                 crop_size: int = 32,
                 stride: int | None = None,
                 padding: int = 16,
                 patch_size: int = 11,
                 cache_scene: bool = True,
                 pipeline: Sequence[dict | Any] = (),
                 ignore_index: int = 255,
                 reduce_zero_label: bool = False,
                 metainfo: dict | None = None,
                 **kwargs) -> None:
        if split not in ('train', 'test'):
            raise ValueError(
                f"split must be 'train' or 'test', got {split!r}.")
        if protocol not in PROTOCOLS:
            raise ValueError(
                f'protocol must be one of {PROTOCOLS}, got {protocol!r}.')
        if reduce_zero_label:
            raise ValueError(
                'HSISceneDataset reduces labels itself (class k -> k - 1, '
                'unlabeled -> ignore_index); keep reduce_zero_label=False.')
        stride = stride if stride is not None else (
            8 if split == 'train' else crop_size)
        if crop_size < 1 or stride < 1 or padding < 0:
            raise ValueError('crop_size and stride must be positive and '
                             f'padding non-negative, got {crop_size}, '
                             f'{stride}, {padding}.')
        if patch_size < 1 or patch_size % 2 == 0:
            raise ValueError(f'patch_size must be odd, got {patch_size}.')
        self.split = split
        self.protocol = protocol
        self.crop_size = crop_size
        self.stride = stride
        self.padding = padding
        self.patch_size = patch_size
        self.scene = self._build_scene(scene, cache_scene)
        if self.scene.num_classes >= ignore_index or \
                not 0 <= ignore_index <= 255:
            raise ValueError(
                f'ignore_index {ignore_index} must lie in '
                f'[{self.scene.num_classes}, 255] (labels are uint8).')
        self.scene_labels = self._reduced_labels(
            self.scene.label_maps[split], ignore_index)
        scene_meta = type(self.scene).declared_contract(
            self.scene.modalities, self.scene.normalization,
            self.scene.modality_channels, ignore_index).to_metainfo()
        if metainfo is not None and 'classes' in metainfo and \
                tuple(metainfo['classes']) != scene_meta['classes']:
            raise ValueError(
                'HSISceneDataset takes its classes from the scene '
                f'({scene_meta["classes"]}); selecting other classes is not '
                'supported.')
        scene_meta.update(metainfo or {})
        super().__init__(
            pipeline=list(pipeline),
            ignore_index=ignore_index,
            reduce_zero_label=False,
            metainfo=scene_meta,
            serialize_data=False,
            **kwargs)

    @staticmethod
    def _build_scene(scene: dict | HSIScene,
                     cache_scene: bool) -> HSIScene:
        if isinstance(scene, HSIScene):
            return scene
        if not isinstance(scene, dict) or 'type' not in scene:
            raise TypeError(
                'scene must be an HSIScene or a dict with a `type` naming '
                f'one of {sorted(HSI_SCENES.module_dict)}; got {scene!r}.')
        cfg = dict(scene)
        cfg.pop('split', None)  # the dataset chooses which labels it serves
        key = repr(sorted((k, repr(v)) for k, v in cfg.items()))
        if cache_scene and key in _SCENE_CACHE:
            _SCENE_CACHE.move_to_end(key)
            return _SCENE_CACHE[key]
        built = HSISceneDataset._scene_class(cfg.pop('type'))(**cfg)
        if cache_scene:
            _SCENE_CACHE[key] = built
            while len(_SCENE_CACHE) > _SCENE_CACHE_SIZE:
                _SCENE_CACHE.popitem(last=False)
        return built

    @staticmethod
    def _scene_class(scene_type: str | type) -> type:
        """The scene class a config's ``type`` names (a name or a class).

        Raises:
            KeyError: For a name no scene is registered under (lists them).
        """
        if isinstance(scene_type, type):
            return scene_type
        scene_class = HSI_SCENES.get(scene_type)
        if scene_class is None:
            raise KeyError(
                f'Unknown scene type {scene_type!r}; registered scenes: '
                f'{sorted(HSI_SCENES.module_dict)}.')
        return scene_class

    @staticmethod
    def clear_scene_cache() -> None:
        """Forget the scenes shared between this process's datasets.

        Frees their memory once no dataset refers to them.
        """
        _SCENE_CACHE.clear()

    @staticmethod
    def _reduced_labels(labels: np.ndarray, ignore_index: int) -> np.ndarray:
        reduced = np.full(labels.shape, ignore_index, dtype=np.uint8)
        labeled = labels > 0
        reduced[labeled] = labels[labeled] - 1
        return reduced

    def _windows(self) -> np.ndarray:
        labeled = self.scene_labels != self.ignore_index
        height, width = labeled.shape
        if self.protocol == 'crop':
            return crop_grid(labeled, self.crop_size, self.stride,
                             self.padding)
        if self.protocol == 'patch':
            return patch_windows(labeled, self.patch_size)
        p = self.padding
        return np.array([[-p, -p, height + 2 * p, width + 2 * p]],
                        dtype=np.int64)

    def load_data_list(self) -> list[dict]:
        """One entry per window; no files are read here."""
        self.windows = self._windows()
        img_path = f'{type(self.scene).__name__}:{self.scene.root}'
        center_only = self.protocol == 'patch'
        shape = tuple(self.scene_labels.shape)
        return [
            dict(
                img_path=img_path,
                seg_map_path=None,
                window=tuple(int(v) for v in window),
                scene_shape=shape,
                center_only=center_only,
                ignore_index=self.ignore_index,
                label_map=None,
                reduce_zero_label=False,
                seg_fields=[]) for window in self.windows
        ]

    def get_data_info(self, idx: int) -> dict:
        """The window's info plus references to the scene arrays."""
        info = super().get_data_info(idx)
        info['scene_image'] = self.scene.image
        info['scene_labels'] = self.scene_labels
        return info

    @property
    def modality_channels(self) -> dict[str, int]:
        """Modality -> channel count, in stacking order."""
        return dict(self.scene.modality_channels)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({type(self.scene).__name__}, split='
                f'{self.split}, protocol={self.protocol}, {len(self)} '
                f'windows, channels {self.modality_channels})')
