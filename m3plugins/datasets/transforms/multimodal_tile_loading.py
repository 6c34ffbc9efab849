"""Load optical + DSM + label tiles, or random windows of them, for MMSeg.

API (registered in ``mmseg.registry.TRANSFORMS``):
    LoadMultimodalTile(with_label=True)
    LoadRandomMultimodalWindow(crop_size=(256, 256), with_label=True)

Input keys (the items of ``ISPRSPotsdamDataset`` / ``ISPRSVaihingenDataset``):
``img_path`` (optical), ``dsm_path``, ``seg_map_path``, optionally
``dsm_statistics`` (whole-tile :class:`BandStatistics`; computed and cached
per process when absent), ``dsm_normalization``, ``dsm_edge_padding`` (rows /
columns a DSM may be short, default 0), ``label_map``, ``tile``.

Output keys: ``img`` (h, w, C + 1) float32, the optical bands (file values,
0..255) then the DSM scaled per tile as the item's ``dsm_normalization``
says (the dataset's, which its data contract records: the scaling can only
be changed there), stacked by
:func:`m3plugins.utils.modalities.stack_modalities` (which rejects size
mismatches and NaN naming the modality); ``gt_seg_map`` (h, w) uint8 with 255
at ignored pixels, listed in ``seg_fields``; ``img_shape``, ``ori_shape``;
``crop_window`` (row, col, height, width) of the pixels read, and
``tile_shape`` (H, W) of the whole tile.

Why windows: a Potsdam tile is 6000 x 6000 pixels (144 MB optical + 144 MB
DSM + 108 MB label). Decoding it to cut one 256 x 256 training crop wastes
almost all of the work; ``LoadRandomMultimodalWindow`` picks the crop first
and decodes only that window of each raster (``rasterio.windows.Window``).
Put it where MMSeg's ``LoadImageFromFile`` + ``LoadAnnotations`` +
``RandomCrop`` would go; flips (MMSeg's ``RandomFlip``) follow it.
``tools/benchmark_isprs_crops.py`` measures the gain.
"""
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from rasterio.windows import Window

from ...utils.modalities import stack_modalities
from ..isprs.tiles import TileFiles, read_tile

__all__ = ['LoadMultimodalTile', 'LoadRandomMultimodalWindow']


@TRANSFORMS.register_module()
class LoadMultimodalTile(BaseTransform):
    """Read a whole optical + DSM (+ label) tile into one stacked image.

    Used for validation and test, where MMSeg's slide inference walks over
    the whole tile.

    Args:
        with_label: Read ``seg_map_path`` into ``gt_seg_map``.
    """

    def __init__(self, with_label: bool = True) -> None:
        self.with_label = with_label

    def _files(self, results: dict) -> TileFiles:
        return TileFiles(
            tile=str(results.get('tile', results['img_path'])),
            optical=results['img_path'],
            dsm=results['dsm_path'],
            label=results.get('seg_map_path') if self.with_label else None)

    def _window(self, shape: tuple[int, int]) -> Window | None:
        """The window to read from a tile of ``shape``; None = whole."""
        return None

    def transform(self, results: dict) -> dict:
        """Read the tile (or window) and fill the output keys.

        Args:
            results: An item of an ISPRS MMSeg dataset.

        Returns:
            dict: ``results`` with ``img``, ``gt_seg_map`` and the shapes.
        """
        files = self._files(results)
        arrays = read_tile(
            files,
            self._window,
            dsm_stats=results.get('dsm_statistics'),
            dsm_normalization=results['dsm_normalization'],
            with_label=self.with_label,
            dsm_edge_padding=results.get('dsm_edge_padding', 0))
        full_shape, window = arrays['tile_shape'], arrays['window']
        img = stack_modalities(
            OrderedDict(optical=arrays['optical'], dsm=arrays['dsm']))
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['tile_shape'] = full_shape
        if window is None:
            results['crop_window'] = (0, 0) + tuple(full_shape)
        else:
            results['crop_window'] = (int(window.row_off),
                                      int(window.col_off),
                                      int(window.height), int(window.width))
        if self.with_label:
            label = arrays['label']
            label_map = results.get('label_map')
            if label_map:
                mapped = label.copy()
                for old, new in label_map.items():
                    mapped[label == old] = new
                label = mapped
            results['gt_seg_map'] = label
            results.setdefault('seg_fields', [])
            if 'gt_seg_map' not in results['seg_fields']:
                results['seg_fields'].append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(with_label={self.with_label})'


@TRANSFORMS.register_module()
class LoadRandomMultimodalWindow(LoadMultimodalTile):
    """Read one random ``crop_size`` window of every modality of a tile.

    The window is drawn uniformly among all positions inside the tile
    (``np.random``, which mmengine seeds per worker); a tile smaller than
    ``crop_size`` along an axis is read whole along it (the data
    preprocessor pads the batch). The DSM is scaled with the statistics of
    the whole tile, so a window equals the same region of the whole tile
    read by :class:`LoadMultimodalTile`.

    Args:
        crop_size: (height, width) of the window, or one int for both.
        with_label: Read the label window into ``gt_seg_map``.
    """

    def __init__(self,
                 crop_size: int | Sequence[int] = (256, 256),
                 with_label: bool = True) -> None:
        super().__init__(with_label)
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        crop_size = tuple(int(s) for s in crop_size)
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError('crop_size must be a positive int or (height, '
                             f'width), got {crop_size}.')
        self.crop_size = crop_size

    def _window(self, shape: tuple[int, int]) -> Window:
        height = min(self.crop_size[0], shape[0])
        width = min(self.crop_size[1], shape[1])
        row = np.random.randint(0, shape[0] - height + 1)
        col = np.random.randint(0, shape[1] - width + 1)
        return Window(col, row, width, height)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'with_label={self.with_label})')
