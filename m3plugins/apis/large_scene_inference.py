"""Large-scene inference: one raster per modality in, georeferenced maps out.

:func:`infer_large_scene` segments a whole scene (a Houston2013 cube plus its
LiDAR, a 6000 x 6000 Potsdam tile plus its DSM, a GeoTIFF pair from another
sensor) with any m3plugins model (SpectralMamba, M3amba, MoBaNet) or any MMSeg
segmentor whose config names its ``modality_channels``:

1. **Model**: built with MMSeg's ``init_model`` from the config and the
   checkpoint (m3plugins' compat layer makes mmengine checkpoints load under
   torch >= 2.6), or passed in ready.
2. **Inputs** (:mod:`m3plugins.io.modality_rasters`): one raster per
   modality of ``modality_channels`` (config order, band counts checked),
   same size, and same CRS and transform where georeferenced. GeoTIFF and
   ``.npy`` are read by window; ``.mat`` is loaded in memory.
3. **Normalisation** (:mod:`m3plugins.apis.scene_normalization`): the
   method per modality of the config's test dataset, with per-band
   statistics of the whole input raster computed in one streaming pass, so
   tiles get exactly the values the dataset would give (including its
   no-data handling: the ISPRS DSM's nodata pixels are left out of the
   statistics and set to 0; and its edge padding: a Potsdam DSM up to one
   row / column short repeats its last row / column). MMSeg's
   ``SegDataPreProcessor`` of the model then applies the config's mean / std
   (and its test padding) as in ``tools/test.py``.
4. **Tiles** (:mod:`m3plugins.apis.tile_blending`): ``tile_size`` windows
   with ``overlap``, ``batch_size`` tiles of one tile row per forward
   (``model.encode_decode``, logits at the tile size), logits blended with
   weights falling off toward interior tile edges; finished rows are written
   as soon as no later tile touches them, so memory is bounded by the scene
   width. A tqdm bar counts tiles.
5. **Outputs** (:mod:`m3plugins.io.class_map_writing`): uint8 GeoTIFF
   class map with the input's CRS and transform, optional per-class
   probabilities (float32 or uint8), colour PNG preview with a legend from
   the config's dataset metainfo.
6. **Several processes** (:mod:`m3plugins.apis.tile_sharing`): called in a
   ``torch.distributed`` job (``tools/infer.py --launcher pytorch``), the
   ranks share the tile batches, each reading only its own windows; rank 0
   blends and writes, and the maps equal a single-process run bit for bit.

Defaults: the tile is the config's sliding-window crop
(``model.test_cfg.crop_size`` when ``mode='slide'``), else a ``crop_size``
named inside ``model`` (models built for one input size, such as M3amba's
backbone, need exactly that size), else 512; the overlap is a quarter of the
tile. A scene side shorter than the tile gives one window of
that length, so a scene smaller than the tile is one whole-image forward.

Example:
    >>> result = infer_large_scene(
    ...     'configs/mobanet/mobanet_demo.py', 'work_dirs/x/iter_1000.pth',
    ...     dict(optical='top_potsdam_2_13_RGB.tif',
    ...          dsm='dsm_potsdam_02_13.tif'),
    ...     'maps/potsdam_2_13.tif', batch_size=4, save_probabilities=True)
    >>> result.class_map, result.preview
    ('maps/potsdam_2_13.tif', 'maps/potsdam_2_13.png')
"""
import os
import os.path as osp
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from mmengine.config import Config

from m3plugins.datasets.normalization import normalize
from m3plugins.io.class_map_writing import SceneMapWriter
from m3plugins.io.modality_rasters import open_modality_rasters
from m3plugins.io.preview_png import save_preview_png
from m3plugins.utils.modalities import stack_modalities

from .scene_normalization import (
    config_test_dataset,
    dataset_edge_padding,
    dataset_modalities,
    dataset_nodata_fill,
    hsi_scene_config,
    normalization_from_config,
    streaming_band_statistics,
)
from .tile_blending import RowBandAccumulator, tile_starts, tile_weights
from .tile_sharing import TileSharing

__all__ = [
    'LargeSceneResult', 'infer_large_scene', 'load_segmentor',
    'modality_channels_from_config', 'default_tile_layout',
    'class_names_and_palette', 'segment_windows'
]

#: Tile size when the config has no sliding-window crop.
DEFAULT_TILE_SIZE = 512
#: GDAL block cache during inference (MB).
DEFAULT_GDAL_CACHE_MB = 64

Pair = int | Sequence[int]


@dataclass
class LargeSceneResult:
    """What :func:`infer_large_scene` wrote and how long it took.

    Attributes:
        class_map: Path of the uint8 class-map GeoTIFF.
        probabilities: Path of the probability GeoTIFF, or None.
        preview: Path of the PNG preview, or None.
        height, width: Scene size.
        num_classes: K.
        classes: Class names used in the legend.
        normalization: Modality -> method applied.
        nodata_fill: Modality -> value no-data pixels were set to after
            scaling (the dataset's contract; empty for most).
        tile_size, overlap: (rows, cols) used.
        num_tiles: Tiles processed.
        seconds: Wall time from the first statistics pass to the last write
            (model building excluded).
        georeferenced: Whether the maps carry a CRS and transform (copied
            from the georeferenced inputs).
        num_processes: Processes that shared the tiles.
    """
    class_map: str
    probabilities: str | None
    preview: str | None
    height: int
    width: int
    num_classes: int
    classes: tuple[str, ...]
    normalization: dict[str, str]
    nodata_fill: dict[str, float]
    tile_size: tuple[int, int]
    overlap: tuple[int, int]
    num_tiles: int
    seconds: float
    georeferenced: bool
    num_processes: int = 1

    @property
    def megapixels_per_second(self) -> float:
        """Scene megapixels per second of :attr:`seconds`."""
        return self.height * self.width / 1e6 / max(self.seconds, 1e-9)


def _pair(value: Pair, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f'{name} must be an int or (rows, cols), got '
                         f'{value}.')
    return value


def _find_key(node: Any, key: str, accept) -> Any | None:
    """First value of ``key`` that ``accept`` turns into non-None.

    Nested dicts / lists are searched in config order.
    """
    if isinstance(node, Mapping):
        if key in node:
            found = accept(node[key])
            if found is not None:
                return found
        children = node.values()
    elif isinstance(node, (list, tuple)):
        children = node
    else:
        return None
    for child in children:
        found = _find_key(child, key, accept)
        if found is not None:
            return found
    return None


def _as_channels(value: Any) -> Optional['OrderedDict[str, int]']:
    """A dict, or a sequence of (name, channels) pairs, as an OrderedDict."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)) and value and all(
            isinstance(p, (list, tuple)) and len(p) == 2
            and isinstance(p[0], str) for p in value):
        items = [tuple(p) for p in value]
    else:
        return None
    return OrderedDict((str(k), int(v)) for k, v in items) or None


def _as_size(value: Any) -> Any | None:
    if isinstance(value, int) or (isinstance(value, (list, tuple)) and len(
            value) == 2 and all(isinstance(v, int) for v in value)):
        return value
    return None


def modality_channels_from_config(cfg: Config) -> 'OrderedDict[str, int]':
    """The model's ordered ``modality_channels``.

    Looked up as a top-level ``modality_channels`` entry of the config, else
    the first ``modality_channels`` inside ``cfg.model`` (segmentor, then
    backbone ..., in config order). Either a dict or a sequence of
    ``(name, channels)`` pairs; pairs keep their order when mmengine dumps a
    config, dict keys get sorted.

    Raises:
        ValueError: If the config names none.
    """
    found = _as_channels(cfg.get('modality_channels', None))
    if found is None:
        found = _find_key(cfg.get('model', {}), 'modality_channels',
                          _as_channels)
    if not found:
        raise ValueError(
            'The config names no modality_channels (neither top-level nor '
            'inside model); large-scene inference needs the ordered '
            "modalities, e.g. modality_channels=[('optical', 3), ('dsm', 1)]"
            '.')
    return found


def default_tile_layout(cfg: Config) -> tuple[tuple[int, int], tuple[int,
                                                                     int]]:
    """Default (tile, overlap) from the config (see the module doc)."""
    model = cfg.get('model', {})
    test_cfg = model.get('test_cfg', None) or {}
    crop = test_cfg.get('crop_size', None) \
        if test_cfg.get('mode', 'whole') == 'slide' else None
    if crop is None:
        # Models built for one input size name it (M3amba's backbone).
        crop = _find_key(model, 'crop_size', _as_size)
    tile = _pair(crop if crop is not None else DEFAULT_TILE_SIZE,
                 'tile_size')
    return tile, (tile[0] // 4, tile[1] // 4)


def class_names_and_palette(cfg: Config, num_classes: int,
                            model: torch.nn.Module | None = None
                            ) -> tuple[list[str], list[list[int]]]:
    """Class names and palette for the legend.

    Taken from the config's test dataset (an ``HSISceneDataset``'s scene
    class, or the dataset class's ``METAINFO`` updated by the config's
    ``metainfo``), else from the checkpoint's ``dataset_meta``,
    else ``class 0 .. K-1`` with a fixed pseudo-random palette. A source is
    used only if it lists exactly ``num_classes`` classes.
    """
    from mmseg.registry import DATASETS
    candidates = []
    dataset = config_test_dataset(cfg)
    if dataset is not None:
        _, scene_class = hsi_scene_config(dataset)
        if scene_class is not None:
            candidates.append(
                dict(classes=getattr(scene_class, 'classes', ()),
                     palette=getattr(scene_class, 'palette', ())))
        meta = {}
        cls = DATASETS.get(dataset.get('type')) \
            if isinstance(dataset.get('type'), str) else dataset.get('type')
        meta.update(getattr(cls, 'METAINFO', None) or {})
        meta.update(dataset.get('metainfo', None) or {})
        candidates.append(meta)
    if model is not None:
        candidates.append(getattr(model, 'dataset_meta', None) or {})
    rng = np.random.RandomState(42)
    generated = rng.randint(0, 256, size=(num_classes, 3)).tolist()
    for meta in candidates:
        classes = list(meta.get('classes', None) or [])
        if len(classes) == num_classes:
            palette = [list(map(int, c)) for c in
                       (meta.get('palette', None) or [])][:num_classes]
            if len(palette) < num_classes:
                palette = generated
            return [str(c) for c in classes], palette
    return [f'class {i}' for i in range(num_classes)], generated


def load_segmentor(config: str | Config | torch.nn.Module,
                   checkpoint: str | None = None,
                   device: str | None = None,
                   cfg_options: dict | None = None) -> torch.nn.Module:
    """Build the model with MMSeg's ``init_model`` (or pass one through).

    Args:
        config: Config path, Config, or an already built segmentor that
            carries its config as ``model.cfg`` (as ``init_model`` sets it).
        checkpoint: Checkpoint path; None keeps the initial weights.
        device: ``'cpu'``, ``'cuda:0'`` ...; default CUDA when available.
        cfg_options: Config overrides (as ``--cfg-options``).

    Returns:
        The segmentor in eval mode, with ``.cfg``.
    """
    from mmseg.apis import init_model

    import m3plugins  # noqa: F401  (compat layer and registration)
    if isinstance(config, torch.nn.Module):
        if not isinstance(getattr(config, 'cfg', None), Config):
            raise ValueError('A model passed in must carry its config as '
                             '`model.cfg` (build it with init_model).')
        return config.eval()
    if device is None:
        device = 'cuda:0' if torch.cuda.is_available() else 'cpu'
    if isinstance(config, (str, os.PathLike)):
        config = Config.fromfile(os.fspath(config))
    else:
        config = config.copy()
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {checkpoint!r}')
    return init_model(config, checkpoint, device=device,
                      cfg_options=cfg_options)


def segment_windows(model: torch.nn.Module,
                    windows: Sequence[np.ndarray]) -> np.ndarray:
    """Logits of equally sized normalised windows in one forward.

    The windows go through the model's ``data_preprocessor`` (the config's
    mean / std and test padding) and ``encode_decode``; the logits are cropped
    back to the window size.

    Args:
        model: An MMSeg segmentor.
        windows: ``(h, w, C)`` float32 arrays, all of one size.

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


def _warn_on_order_mismatch(cfg: Config,
                            modality_channels: Mapping[str, int]) -> None:
    """Warn when the model's modality order differs from the dataset's.

    Tiles are stacked in the model's ``modality_channels`` order, which is
    what the model splits by. A dataset that stacks in another order means
    the model was trained on differently ordered channels: typically a config
    re-dumped by mmengine, whose ``Config.dump`` sorts dict keys (so
    ``dict(optical=3, dsm=1)`` becomes ``dict(dsm=1, optical=3)``).
    """
    import warnings
    dataset = config_test_dataset(cfg)
    order = dataset_modalities(dataset) if dataset is not None else None
    model_order = tuple(modality_channels)
    if order is not None and set(order) == set(model_order) and \
            tuple(order) != model_order:
        warnings.warn(
            f'The model splits its input as {model_order} but the config\'s '
            f'test dataset stacks {tuple(order)}. If this config was dumped '
            'by mmengine (which sorts dict keys), use the original config '
            'file. Inference stacks in the model\'s order.')


def _normalize_window(raw: Mapping[str, np.ndarray],
                      methods: Mapping[str, str],
                      statistics: Mapping[str, Any],
                      fills: Mapping[str, float]) -> 'OrderedDict':
    """Normalise each modality's window.

    No-data is filled where the dataset does.
    """
    normalized = OrderedDict()
    for name, array in raw.items():
        array = normalize(array, methods[name], statistics.get(name))
        if name in fills:
            array[~np.isfinite(array)] = fills[name]
        normalized[name] = array
    return normalized


def _default_outputs(out_path: str) -> tuple[str, str]:
    stem = osp.splitext(out_path)[0]
    return f'{stem}_probs.tif', f'{stem}.png'


def infer_large_scene(
        model_or_config: str | Config | torch.nn.Module,
        rasters: Mapping[str, str | os.PathLike],
        out_path: str,
        checkpoint: str | None = None,
        tile_size: Pair | None = None,
        overlap: Pair | None = None,
        batch_size: int = 1,
        device: str | None = None,
        save_probabilities: bool = False,
        probability_dtype: str = 'float32',
        probabilities_path: str | None = None,
        preview_path: str | None = None,
        save_preview: bool = True,
        class_offset: int = 0,
        normalization: str | Mapping[str, str] | None = None,
        cfg_options: dict | None = None,
        progress: bool = True,
        gdal_cache_mb: int = DEFAULT_GDAL_CACHE_MB,
        sharing: TileSharing | None = None) -> LargeSceneResult:
    """Segment a whole multimodal scene tile by tile (see the module doc).

    Args:
        model_or_config: Config path / Config, or a segmentor built with
            ``init_model``.
        rasters: Modality name -> raster path (GeoTIFF, ``.npy``, ``.mat``
            or ``.mat:KEY``), one per modality of ``modality_channels``.
        out_path: Class-map GeoTIFF to write.
        checkpoint: Checkpoint to load (ignored when a model is passed).
        tile_size: Tile (rows, cols) or one int; default from the config.
        overlap: Overlap between tiles (pixels); default a quarter tile.
        batch_size: Tiles per forward pass (tiles of one tile row).
        device: Device for a model built here.
        save_probabilities: Also write per-class probabilities.
        probability_dtype: ``'float32'`` or ``'uint8'`` (255 * p).
        probabilities_path: Default ``<out stem>_probs.tif``.
        preview_path: Default ``<out stem>.png``.
        save_preview: Write the PNG preview.
        class_offset: Added to class indices in the class map.
        normalization: Override of the config's normalisation (one method or
            modality -> method).
        cfg_options: Config overrides for a model built here.
        progress: Show a tqdm progress bar.
        gdal_cache_mb: GDAL's raster block cache for this call (MB). GDAL's
            default is 5% of the RAM and fills with blocks of the inputs and
            outputs as a large scene is processed; a tile row only needs
            about two rows of 256-pixel blocks of each raster cached (a 6000
            wide scene: ~20 MB of inputs, 37 MB of float32 probabilities).
        sharing: How tiles are shared among processes; None: from the
            process group (every tile on one process without one).

    Returns:
        LargeSceneResult: Paths written, sizes and timing.

    Raises:
        RasterAlignmentError: Rasters that do not fit the model or each other.
        ValueError: Bad tile / overlap / batch arguments, or no
            normalisation known.
    """
    from tqdm import tqdm
    if sharing is None:
        sharing = TileSharing.from_process_group()
    built_here = not isinstance(model_or_config, torch.nn.Module)
    model = load_segmentor(model_or_config, checkpoint, device, cfg_options)
    if built_here:  # a model passed in is the caller's (tools/infer.py
        sharing.same_weights(model)  # gives every rank rank 0's once)
    cfg = model.cfg
    modality_channels = modality_channels_from_config(cfg)
    default_tile, default_overlap = default_tile_layout(cfg)
    tile = _pair(tile_size, 'tile_size') if tile_size is not None \
        else default_tile
    if overlap is None:
        overlap = (tile[0] // 4, tile[1] // 4) if tile_size is not None \
            else default_overlap
    overlap = _pair(overlap, 'overlap')
    if min(tile) < 1 or min(overlap) < 0 or \
            any(o >= t for o, t in zip(overlap, tile)):
        raise ValueError(f'Need tile_size >= 1 and 0 <= overlap < tile_size, '
                         f'got tile_size={tile}, overlap={overlap}.')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}.')
    methods = normalization_from_config(cfg, list(modality_channels),
                                        normalization)
    _warn_on_order_mismatch(cfg, modality_channels)
    dataset = config_test_dataset(cfg)
    fills = {name: value
             for name, value in dataset_nodata_fill(dataset).items()
             if name in modality_channels}
    probabilities_default, preview_default = _default_outputs(out_path)

    start = time.perf_counter()
    edge_padding = {name: value
                    for name, value in dataset_edge_padding(dataset).items()
                    if name in modality_channels}
    import rasterio
    # rasterio applies GDAL_CACHEMAX in bytes (GDALSetCacheMax64).
    with rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb) * 2**20), \
            open_modality_rasters(rasters, modality_channels,
                                  edge_padding) as scene:
        statistics = sharing.from_rank0(lambda: {
            name: streaming_band_statistics(scene.rasters[name],
                                            nodata_as_nan=name in fills)
            for name, method in methods.items() if method != 'none'
        })
        height, width = scene.height, scene.width
        tile_h, tile_w = min(tile[0], height), min(tile[1], width)
        overlap = (min(overlap[0], tile_h - 1), min(overlap[1], tile_w - 1))
        rows = tile_starts(height, tile_h, tile_h - overlap[0])
        cols = tile_starts(width, tile_w, tile_w - overlap[1])
        accumulator = writer = None
        num_classes = 0
        bar = tqdm(total=len(rows) * len(cols), unit='tile',
                   disable=not progress or not sharing.writes,
                   desc='large-scene inference')

        def predict(batch_cols: Sequence[int]) -> np.ndarray:
            windows = [
                stack_modalities(_normalize_window(
                    scene.read(row, col, tile_h, tile_w, fills), methods,
                    statistics, fills)) for col in batch_cols
            ]
            return segment_windows(model, windows)

        batches = [cols[first:first + batch_size]
                   for first in range(0, len(cols), batch_size)]
        try:
            for index, row in enumerate(rows):
                row_logits = sharing.predict_row(batches, predict)
                if row_logits is None:  # another rank writes
                    continue
                for batch_cols, logits in zip(batches, row_logits):
                    if accumulator is None:
                        num_classes = logits.shape[1]
                        accumulator = RowBandAccumulator(
                            num_classes, tile_h, width)
                        writer = SceneMapWriter(
                            out_path, height, width, num_classes,
                            scene.crs, scene.transform,
                            (probabilities_path or probabilities_default)
                            if save_probabilities else None,
                            probability_dtype, class_offset)
                    for col, tile_logits in zip(batch_cols, logits):
                        accumulator.add(
                            row, col, tile_logits,
                            tile_weights(row, col, tile_h, tile_w, height,
                                         width, overlap))
                    bar.update(len(batch_cols))
                until = rows[index + 1] if index + 1 < len(rows) else height
                top, blended = accumulator.flush(until)
                writer.write_rows(top, blended)
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
        crs, _transform = scene.crs, scene.transform
    # The other ranks learn the class count from rank 0 once the maps exist.
    num_classes = sharing.from_rank0(lambda: num_classes)
    seconds = time.perf_counter() - start

    classes, palette = class_names_and_palette(cfg, num_classes, model)
    preview = None
    if save_preview:
        preview = preview_path or preview_default
        if sharing.writes:
            preview = save_preview_png(out_path, preview, classes, palette,
                                       class_offset)
    sharing.barrier()
    return LargeSceneResult(
        class_map=out_path,
        probabilities=(probabilities_path or probabilities_default)
        if save_probabilities else None,
        preview=preview,
        height=height,
        width=width,
        num_classes=num_classes,
        classes=tuple(classes),
        normalization=dict(methods),
        nodata_fill=dict(fills),
        tile_size=(tile_h, tile_w),
        overlap=overlap,
        num_tiles=len(rows) * len(cols),
        seconds=seconds,
        georeferenced=crs is not None,
        num_processes=sharing.world_size)
