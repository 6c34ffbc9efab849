"""Segment a whole scene window by window: :class:`TiledPredictor`.

A predictor is built once from a segmentor and the data contract it follows
(:func:`m3plugins.apis.inference_contract.inference_contract`) with the
tiling options, then segments any number of scenes:

1. :meth:`TiledPredictor.open` opens one raster per modality of the
   contract, in its stacking order, checking bands and alignment (with the
   contract's edge padding).
2. :meth:`TiledPredictor.scene_statistics` computes the per-band
   statistics of every normalised modality over the whole input raster in
   one streaming pass (no-data left out where the contract fills it), so
   each window gets exactly the values the dataset gave the whole raster.
3. :meth:`TiledPredictor.predict_batch` reads, normalises, fills and stacks
   a batch of windows of one tile row and returns their logits
   (:func:`segment_windows`: the model's data preprocessor, then
   ``encode_decode``).
4. :meth:`TiledPredictor.predict_scene` runs the batches row by row
   (shared among processes by :class:`~m3plugins.apis.tile_sharing.
   TileSharing`), blends the logits with weights falling off toward interior
   tile edges (:mod:`m3plugins.apis.tile_blending`) and hands each finished
   band of rows to a writer, so memory is bounded by the scene width.

Example:
    >>> predictor = TiledPredictor(model, contract, tile_size=256,
    ...                            batch_size=4)
    >>> with predictor.open(dict(optical='top.tif', dsm='dsm.tif')) as scene:
    ...     grid, num_classes = predictor.predict_scene(
    ...         scene, lambda k: SceneMapWriter('map.tif', scene.height,
    ...                                         scene.width, k, scene.crs,
    ...                                         scene.transform))
"""
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from m3plugins.datasets.normalization import BandStatistics, normalize
from m3plugins.io.class_map_writing import SceneMapWriter
from m3plugins.io.modality_rasters import (
    ModalityRasterStack,
    open_modality_rasters,
)
from m3plugins.structures.data_contract import DataContract
from m3plugins.utils.modalities import stack_modalities

from .scene_normalization import streaming_band_statistics
from .tile_blending import RowBandAccumulator, tile_starts, tile_weights
from .tile_sharing import TileSharing

__all__ = ['TiledPredictor', 'TileGrid', 'segment_windows']

Pair = int | Sequence[int]


def _pair(value: Pair, name: str) -> tuple[int, int]:
    """``value`` as (rows, cols); one int stands for both."""
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f'{name} must be an int or (rows, cols), got '
                         f'{value}.')
    return value


def segment_windows(model: torch.nn.Module,
                    windows: Sequence[np.ndarray]) -> np.ndarray:
    """Logits of equally sized normalised windows in one forward.

    The windows go through the model's ``data_preprocessor`` (the config's
    mean / std and test padding) and ``encode_decode``; the logits are cropped
    back to the window size.

    Args:
        model: An MMSeg segmentor.
        windows: B arrays of shape (h, w, C), float32, all of one size.

    Returns:
        np.ndarray: (B, K, h, w) float32 logits.
    """
    from mmseg.structures import SegDataSample
    height, width = windows[0].shape[:2]
    inputs = [torch.from_numpy(np.ascontiguousarray(w.transpose(2, 0, 1)))
              for w in windows]
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=[SegDataSample() for _ in inputs]),
        False)
    batch = data['inputs']
    shape = tuple(batch.shape[2:])
    metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=(height, width))
             for _ in inputs]
    with torch.no_grad():
        logits = model.encode_decode(batch, metas)
    return logits[:, :, :height, :width].float().cpu().numpy()


@dataclass(frozen=True)
class TileGrid:
    """The windows that cover one scene.

    Attributes:
        height, width: Scene size.
        tile: (rows, cols) of every window (at most the scene size).
        overlap: (rows, cols) shared by neighbouring windows.
        rows: Top row of each tile row.
        cols: Left column of each tile column.
    """

    height: int
    width: int
    tile: tuple[int, int]
    overlap: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @classmethod
    def cover(cls, height: int, width: int, tile: tuple[int, int],
              overlap: tuple[int, int]) -> 'TileGrid':
        """Windows of ``tile`` with ``overlap`` over a height x width scene.

        A side shorter than the tile gets one window of that length (the
        overlap shrinks to fit).
        """
        tile = (min(tile[0], height), min(tile[1], width))
        overlap = (min(overlap[0], tile[0] - 1), min(overlap[1], tile[1] - 1))
        return cls(height, width, tile, overlap,
                   tuple(tile_starts(height, tile[0], tile[0] - overlap[0])),
                   tuple(tile_starts(width, tile[1], tile[1] - overlap[1])))

    @property
    def num_tiles(self) -> int:
        """Windows in the grid."""
        return len(self.rows) * len(self.cols)

    def weights(self, row: int, col: int) -> np.ndarray:
        """(h, w) blending weights of the window at (row, col)."""
        return tile_weights(row, col, self.tile[0], self.tile[1],
                            self.height, self.width, self.overlap)


class TiledPredictor:
    """Segments whole scenes window by window (see the module docstring).

    Args:
        model: An MMSeg segmentor in eval mode.
        contract: The data contract to follow: modality order and bands,
            per-modality normalisation, no-data fill and edge padding, and
            the default tile size.
        tile_size: Window (rows, cols) or one int; default the contract's
            ``tile_size``.
        overlap: Overlap of neighbouring windows (pixels); default a quarter
            of the window.
        batch_size: Windows per forward pass (windows of one tile row).
        sharing: How batches are shared among processes; None: from the
            process group (every batch here without one).

    Raises:
        ValueError: For a tile size below 1, an overlap outside
            [0, tile_size), a batch size below 1, or no tile size at all.
    """

    def __init__(self,
                 model: torch.nn.Module,
                 contract: DataContract,
                 tile_size: Pair | None = None,
                 overlap: Pair | None = None,
                 batch_size: int = 1,
                 sharing: TileSharing | None = None) -> None:
        if tile_size is None:
            tile_size = contract.tile_size
        if tile_size is None:
            raise ValueError('No tile size: pass tile_size, or give the '
                             'contract one.')
        tile = _pair(tile_size, 'tile_size')
        if overlap is None:
            overlap = (tile[0] // 4, tile[1] // 4)
        overlap = _pair(overlap, 'overlap')
        if min(tile) < 1 or min(overlap) < 0 or \
                any(o >= t for o, t in zip(overlap, tile)):
            raise ValueError(
                f'Need tile_size >= 1 and 0 <= overlap < tile_size, got '
                f'tile_size={tile}, overlap={overlap}.')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}.')
        self.model = model
        self.contract = contract
        self.tile = tile
        self.overlap = overlap
        self.batch_size = int(batch_size)
        self.sharing = sharing if sharing is not None else \
            TileSharing.from_process_group()
        self.methods = OrderedDict(
            (m.name, m.normalization) for m in contract.modalities)
        self.nodata_fill = {m.name: float(m.nodata_fill)
                            for m in contract.modalities
                            if m.nodata_fill is not None}
        self.edge_padding = {m.name: int(m.edge_padding)
                             for m in contract.modalities if m.edge_padding}

    def open(self, rasters: Mapping[str, str | os.PathLike]
             ) -> ModalityRasterStack:
        """Open one raster per modality of the contract, in its order.

        Args:
            rasters: Modality -> raster path.

        Returns:
            ModalityRasterStack: Checked for bands and alignment; close it
            (or use it as a context manager).

        Raises:
            RasterAlignmentError: Missing / unknown modalities, wrong band
                counts, rasters on different grids.
        """
        return open_modality_rasters(rasters, self.contract.modality_channels,
                                     self.edge_padding)

    def grid(self, height: int, width: int) -> TileGrid:
        """The windows covering a height x width scene."""
        return TileGrid.cover(height, width, self.tile, self.overlap)

    def scene_statistics(self, scene: ModalityRasterStack
                         ) -> dict[str, BandStatistics]:
        """Per-band statistics of every normalised modality of the scene.

        Computed on rank 0 in one streaming pass per modality and sent to
        the other ranks. No-data pixels of modalities the contract fills are
        left out.

        Returns:
            dict[str, BandStatistics]: Modality -> statistics over C_m bands,
            for every modality whose method is not ``'none'``.
        """
        return self.sharing.from_rank0(lambda: {
            name: streaming_band_statistics(
                scene.rasters[name], nodata_as_nan=name in self.nodata_fill)
            for name, method in self.methods.items() if method != 'none'
        })

    def normalize_window(self, raw: Mapping[str, np.ndarray],
                         statistics: Mapping[str, BandStatistics]
                         ) -> 'OrderedDict[str, np.ndarray]':
        """Normalise each modality's window as the contract says.

        Args:
            raw: Modality -> (h, w, C_m) window as read.
            statistics: The scene's statistics (:meth:`scene_statistics`).

        Returns:
            Modality -> (h, w, C_m) normalised window; no-data set to the
            contract's fill value where it has one.
        """
        normalized = OrderedDict()
        for name, array in raw.items():
            array = normalize(array, self.methods[name], statistics.get(name))
            if name in self.nodata_fill:
                array[~np.isfinite(array)] = self.nodata_fill[name]
            normalized[name] = array
        return normalized

    def predict_batch(self, scene: ModalityRasterStack,
                      statistics: Mapping[str, BandStatistics],
                      grid: TileGrid, row: int,
                      cols: Sequence[int]) -> np.ndarray:
        """Logits of the windows at ``row`` and each of ``cols``.

        Args:
            scene: The open rasters.
            statistics: The scene's statistics (:meth:`scene_statistics`).
            grid: The scene's windows.
            row: Top row of the windows.
            cols: Left columns of the B windows.

        Returns:
            np.ndarray: (B, K, h, w) float32 logits, (h, w) =
            ``grid.tile``.

        Raises:
            ModalityError: NaN / Inf in a modality the contract does not
                fill (named).
        """
        tile_h, tile_w = grid.tile
        windows = [
            stack_modalities(self.normalize_window(
                scene.read(row, col, tile_h, tile_w, self.nodata_fill),
                statistics)) for col in cols
        ]
        return segment_windows(self.model, windows)

    def predict_scene(self,
                      scene: ModalityRasterStack,
                      make_writer: Callable[[int], SceneMapWriter],
                      progress: bool = False) -> tuple[TileGrid, int]:
        """Segment a whole open scene into the writer ``make_writer`` opens.

        Args:
            scene: The open rasters (:meth:`open`).
            make_writer: Class count K -> the writer of the maps, called
                once, on the writing rank, when the first logits arrive; it
                gets blended (K, rows, W) logits band by band and is closed
                at the end (aborted on an error, leaving nothing partial).
            progress: Show a tqdm bar counting windows.

        Returns:
            tuple: The grid used and the class count K (on every rank).
        """
        from tqdm import tqdm
        statistics = self.scene_statistics(scene)
        grid = self.grid(scene.height, scene.width)
        batches = [list(grid.cols[first:first + self.batch_size])
                   for first in range(0, len(grid.cols), self.batch_size)]
        accumulator = writer = None
        num_classes = 0
        bar = tqdm(total=grid.num_tiles, unit='tile',
                   disable=not progress or not self.sharing.writes,
                   desc='large-scene inference')
        try:
            for index, row in enumerate(grid.rows):
                row_logits = self.sharing.predict_row(
                    batches, lambda cols, row=row: self.predict_batch(
                        scene, statistics, grid, row, cols))
                if row_logits is None:  # another rank writes
                    continue
                for cols, logits in zip(batches, row_logits):
                    if accumulator is None:
                        num_classes = logits.shape[1]
                        accumulator = RowBandAccumulator(
                            num_classes, grid.tile[0], grid.width)
                        writer = make_writer(num_classes)
                    for col, tile_logits in zip(cols, logits):
                        accumulator.add(row, col, tile_logits,
                                        grid.weights(row, col))
                    bar.update(len(cols))
                until = grid.rows[index + 1] if index + 1 < len(grid.rows) \
                    else grid.height
                writer.write_rows(*accumulator.flush(until))
        except BaseException:
            # Nothing partial under the output names (temporary files go).
            if writer is not None:
                writer.abort()
                writer = None
            raise
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        # The other ranks learn the class count from rank 0.
        return grid, self.sharing.from_rank0(lambda: num_classes)

    def legend(self, num_classes: int) -> tuple[list[str], list[list[int]]]:
        """Class names and palette for K classes.

        The contract's, else the model's ``dataset_meta``'s, when they list
        exactly K classes; else ``class 0 .. K-1``. A palette that does not
        cover K colours is replaced by a fixed pseudo-random one.
        """
        rng = np.random.RandomState(42)
        generated = rng.randint(0, 256, size=(num_classes, 3)).tolist()
        candidates: list[Mapping[str, Any]] = [
            dict(classes=self.contract.classes,
                 palette=self.contract.palette),
            getattr(self.model, 'dataset_meta', None) or {}
        ]
        for meta in candidates:
            classes = list(meta.get('classes', None) or [])
            if len(classes) == num_classes:
                palette = [list(map(int, c)) for c in
                           (meta.get('palette', None) or [])][:num_classes]
                if len(palette) < num_classes:
                    palette = generated
                return [str(c) for c in classes], palette
        return [f'class {i}' for i in range(num_classes)], generated
