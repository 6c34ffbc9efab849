"""Large-scene inference: one raster per modality in, georeferenced maps out.

:func:`infer_large_scene` segments a whole scene (a Houston2013 cube plus its
LiDAR, a 6000 x 6000 Potsdam tile plus its DSM, a GeoTIFF pair from another
sensor) with any m3plugins model (SpectralMamba, M3amba, MoBaNet) or any MMSeg
segmentor, following the data contract its checkpoint carries:

1. **Model**: built with MMSeg's ``init_model`` from the config and the
   checkpoint (checked first: m3plugins.engine.checkpoint_checks; loads under
   torch >= 2.6), or passed in ready.
2. **Contract** (:mod:`m3plugins.apis.inference_contract`): the training
   dataset's :class:`~m3plugins.structures.DataContract` from the checkpoint
   (``model.dataset_meta``): modality order and bands, normalisation per
   modality (with its no-data fill and edge padding), classes, palette and
   tile size; checked against the model's modality layout. A checkpoint
   without one warns and falls back on the config's test dataset.
3. **Inputs** (:mod:`m3plugins.io.modality_rasters`): one raster per
   modality of the contract, same size (up to the contract's edge padding:
   a Potsdam DSM one column short repeats its last column), and same CRS and
   transform where georeferenced. GeoTIFF and ``.npy`` are read by window;
   ``.mat`` is loaded in memory.
4. **Windows** (:class:`~m3plugins.apis.tiled_predictor.TiledPredictor`):
   per-band statistics of the whole input raster in one streaming pass, so
   every window gets the values the dataset gave (no-data left out of the
   statistics and filled where the contract says); ``tile_size`` windows
   with ``overlap``, ``batch_size`` windows of one tile row per forward
   (the model's data preprocessor, then ``encode_decode``), logits blended
   with weights falling off toward interior tile edges; finished rows are
   written as soon as no later window touches them, so memory is bounded by
   the scene width. A tqdm bar counts windows.
5. **Outputs** (:mod:`m3plugins.io.class_map_writing`): uint8 GeoTIFF
   class map with the input's CRS and transform, optional per-class
   probabilities (float32 or uint8), colour PNG preview with a legend of the
   contract's classes.
6. **Several processes** (:mod:`m3plugins.apis.tile_sharing`): called in a
   ``torch.distributed`` job (``tools/infer.py --launcher pytorch``), the
   ranks share the window batches, each reading only its own windows; rank 0
   blends and writes, and the maps equal a single-process run bit for bit.

Defaults: the tile is the contract's ``tile_size`` (the model's input size,
stamped into the checkpoint when it was saved), else the config's
sliding-window crop or preprocessor ``size``, else 512; the overlap is a
quarter of the tile. A scene side shorter than the tile gives one window of
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
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from mmengine.config import Config

from m3plugins.io.class_map_writing import SceneMapWriter
from m3plugins.io.preview_png import save_preview_png

from .inference_contract import inference_contract
from .tile_sharing import TileSharing
from .tiled_predictor import Pair, TiledPredictor, segment_windows

__all__ = [
    'LargeSceneResult', 'infer_large_scene', 'load_segmentor',
    'segment_windows', 'TiledPredictor'
]

#: GDAL block cache during inference (MB).
DEFAULT_GDAL_CACHE_MB = 64


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
        The segmentor in eval mode, with ``.cfg`` (and ``.dataset_meta``
        when the checkpoint has one).
    """
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    from mmseg.apis import init_model

    import m3plugins  # noqa: F401  (registration)
    from m3plugins.engine.checkpoint_checks import (
        check_state_dict_fits_model,
        load_local_checkpoint,
    )
    if isinstance(config, torch.nn.Module):
        if not isinstance(getattr(config, 'cfg', None), Config):
            raise ValueError('A model passed in must carry its config as '
                             '`model.cfg` (build it with init_model).')
        return config.eval()
    if device is None:
        device = 'cuda:0' if torch.cuda.is_available() else 'cpu'
    if isinstance(config, (str, os.PathLike)):
        from m3plugins.utils.quiet_warnings import (
            quiet_unactionable_warnings,
        )
        with quiet_unactionable_warnings():  # mmengine's mmseg:: lookup
            config = Config.fromfile(os.fspath(config))
    else:
        config = config.copy()
    if checkpoint is None:
        return init_model(config, None, device=device,
                          cfg_options=cfg_options)
    # The file is checked before the model is built: a path that is not a
    # checkpoint, or one of another model, is refused with its reason.
    state = load_local_checkpoint(checkpoint, map_location='cpu')
    model = init_model(config, None, device='cpu', cfg_options=cfg_options)
    check_state_dict_fits_model(model, state, path=os.fspath(checkpoint))
    _load_checkpoint_to_model(model, state)
    dataset_meta = state.get('meta', {}).get('dataset_meta')
    if dataset_meta is not None:
        model.dataset_meta = dataset_meta
    return model.to(device).eval()


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
            or ``.mat:KEY``), one per modality of the contract.
        out_path: Class-map GeoTIFF to write.
        checkpoint: Checkpoint to load (ignored when a model is passed).
        tile_size: Tile (rows, cols) or one int; default the contract's.
        overlap: Overlap between tiles (pixels); default a quarter tile.
        batch_size: Tiles per forward pass (tiles of one tile row).
        device: Device for a model built here.
        save_probabilities: Also write per-class probabilities.
        probability_dtype: ``'float32'`` or ``'uint8'`` (255 * p).
        probabilities_path: Default ``<out stem>_probs.tif``.
        preview_path: Default ``<out stem>.png``.
        save_preview: Write the PNG preview.
        class_offset: Added to class indices in the class map.
        normalization: Override of the contract's normalisation (one method
            or modality -> method).
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
        ModalityError: A contract whose modality layout is not the model's.
        ValueError: Bad tile / overlap / batch arguments, or no
            normalisation known.
    """
    if sharing is None:
        sharing = TileSharing.from_process_group()
    built_here = not isinstance(model_or_config, torch.nn.Module)
    model = load_segmentor(model_or_config, checkpoint, device, cfg_options)
    if built_here:  # a model passed in is the caller's (tools/infer.py
        sharing.same_weights(model)  # gives every rank rank 0's once)
    predictor = TiledPredictor(
        model, inference_contract(model, normalization), tile_size, overlap,
        batch_size, sharing)
    stem = osp.splitext(out_path)[0]
    if save_probabilities:
        probabilities_path = probabilities_path or f'{stem}_probs.tif'
    else:
        probabilities_path = None

    start = time.perf_counter()
    import rasterio
    # rasterio applies GDAL_CACHEMAX in bytes (GDALSetCacheMax64).
    with rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb) * 2**20), \
            predictor.open(rasters) as scene:
        grid, num_classes = predictor.predict_scene(
            scene, lambda k: SceneMapWriter(
                out_path, scene.height, scene.width, k, scene.crs,
                scene.transform, probabilities_path, probability_dtype,
                class_offset), progress)
        georeferenced = scene.crs is not None
    seconds = time.perf_counter() - start

    classes, palette = predictor.legend(num_classes)
    preview = None
    if save_preview:
        preview = preview_path or f'{stem}.png'
        if sharing.writes:
            preview = save_preview_png(out_path, preview, classes, palette,
                                       class_offset)
    sharing.barrier()
    return LargeSceneResult(
        class_map=out_path,
        probabilities=probabilities_path,
        preview=preview,
        height=grid.height,
        width=grid.width,
        num_classes=num_classes,
        classes=tuple(classes),
        normalization=dict(predictor.methods),
        nodata_fill=dict(predictor.nodata_fill),
        tile_size=grid.tile,
        overlap=grid.overlap,
        num_tiles=grid.num_tiles,
        seconds=seconds,
        georeferenced=georeferenced,
        num_processes=sharing.world_size)
