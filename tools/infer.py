"""Segment a whole multimodal scene into a georeferenced class map.

One raster per modality of the checkpoint's data contract (GeoTIFF,
``.npy``, or the scene's ``.mat`` files, ``file.mat:KEY`` to pick a
variable); tiles with overlap and blended logits; writes a uint8 GeoTIFF class
map with the input's CRS and transform, optionally per-class probabilities,
and a colour PNG preview with a legend. An output that is one of the inputs
(also through a link) is refused, and so is an existing file unless
``--overwrite`` is given: each is named before any work. The checkpoint's
contract gives the modality order, normalisation, classes and tile size (a
checkpoint saved before contracts: the config's, with a warning). See
:mod:`m3plugins.apis.large_scene_inference` for the full contract (memory,
outputs).

Examples:
    python tools/infer.py configs/mobanet/mobanet_demo.py ckpt.pth \
        --modality optical=top_potsdam_2_13_RGB.tif \
        --modality dsm=dsm_potsdam_02_13.tif \
        --out maps/potsdam_2_13.tif --batch-size 4 --save-probs

    python tools/infer.py configs/m3amba/m3amba_houston2013.py ckpt.pth \
        --modality hsi=Houston2013/HSI.mat \
        --modality lidar=Houston2013/LiDAR.mat \
        --out maps/houston2013.tif --class-offset 1

    # the tiles shared among 4 GPUs (or CPU processes); same output
    bash tools/dist_infer.sh configs/mobanet/mobanet_demo.py ckpt.pth 4 \
        --modality optical=top.tif --modality dsm=dsm.tif --out map.tif

    # several scenes: a CSV with an `out` column and one column per modality
    # (paths relative to the working directory); on N processes each rank
    # segments whole scenes (fewer scenes than ranks: the tiles are shared)
    bash tools/dist_infer.sh configs/mobanet/mobanet_demo.py ckpt.pth 4 \
        --scenes scenes.csv
"""
import argparse
import csv
import os
import sys

from mmengine.config import Config, DictAction

from m3plugins.apis.cli import add_threads_argument


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        name, sep, rest = value.partition('=')
        if not sep or not name or not rest:
            raise SystemExit(f'error: {what} must look like NAME=VALUE, got '
                             f'{value!r}.')
        if name in pairs:
            raise SystemExit(f'error: {what} {name!r} given twice.')
        pairs[name] = rest
    return pairs


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (see the module docstring).

    Args:
        argv: Arguments; None: ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(
        description='Tiled inference of a whole multimodal scene into a '
        'georeferenced class map.')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint',
        help="checkpoint file, or 'none' for the config's initial weights")
    parser.add_argument(
        '--modality',
        action='append',
        metavar='NAME=PATH',
        help='raster of one modality (repeat per modality), e.g. '
        '--modality optical=top.tif --modality dsm=dsm.tif; .mat files may '
        'name their variable as file.mat:KEY')
    parser.add_argument('--out', help='class-map GeoTIFF to write')
    parser.add_argument(
        '--scenes',
        metavar='CSV',
        help='several scenes instead of --modality/--out: a CSV file with a '
        'header, an `out` column (class map to write) and one column per '
        'modality (raster paths)')
    parser.add_argument(
        '--tile-size',
        type=int,
        nargs='+',
        metavar='N',
        help='tile size (one value, or rows cols); default: the '
        'checkpoint\'s data contract, else the config\'s sliding-window '
        'crop or preprocessor size, else 512')
    parser.add_argument(
        '--overlap',
        type=int,
        nargs='+',
        metavar='N',
        help='overlap between tiles in pixels; default a quarter tile')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='tiles per forward pass')
    parser.add_argument(
        '--device', help="'cpu', 'cuda:0' ...; default CUDA when available")
    parser.add_argument(
        '--save-probs',
        action='store_true',
        help='also write per-class probabilities (<out>_probs.tif)')
    parser.add_argument(
        '--probs-dtype',
        choices=['float32', 'uint8'],
        default='float32',
        help='probability storage: float32, or uint8 holding round(255 p)')
    parser.add_argument(
        '--no-preview', action='store_true', help='skip the PNG preview')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace existing output files (class map, preview, '
        'probabilities); without it an existing one stops the run before '
        'any work. An input is never replaced')
    parser.add_argument(
        '--class-offset',
        type=int,
        default=0,
        help='added to class indices in the map (1: classes 1..K, as in '
        'hyperspectral label files)')
    parser.add_argument(
        '--normalization',
        nargs='+',
        metavar='NAME=METHOD',
        help='override the checkpoint\'s (or config\'s) normalisation '
        'per modality (minmax, zscore, none)')
    parser.add_argument(
        '--gdal-cache-mb',
        type=int,
        default=64,
        help='GDAL raster block cache during inference (MB)')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='several processes (torchrun / SLURM): the ranks share the '
        'tiles, rank 0 writes the maps (identical to one process)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument(
        '--debug', action='store_true',
        help='show the traceback of user errors instead of their message')
    add_threads_argument(parser)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, as in tools/test.py')
    args = parser.parse_args(argv)
    if args.scenes is None and (not args.modality or not args.out):
        parser.error('give --modality NAME=PATH ... and --out, or --scenes')
    if args.scenes is not None and (args.modality or args.out):
        parser.error('--scenes replaces --modality and --out')
    return args


def read_scene_list(path: str) -> list[dict[str, object]]:
    """Scenes of a ``--scenes`` CSV: ``[{'out': ..., 'rasters': {...}}]``."""
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows or 'out' not in rows[0] or len(rows[0]) < 2:
        raise SystemExit(f'error: {path} needs a header with an `out` column '
                         'and one column per modality, and at least one row.')
    scenes = []
    for number, row in enumerate(rows, start=2):
        if any(not (value or '').strip() for value in row.values()):
            raise SystemExit(f'error: {path}, line {number}: empty field.')
        scenes.append(dict(out=row['out'].strip(), rasters={
            name.strip(): value.strip()
            for name, value in row.items() if name != 'out'}))
    outs = [scene['out'] for scene in scenes]
    if len(set(outs)) != len(outs):
        raise SystemExit(f'error: {path} names an `out` file twice.')
    return scenes


def planned_outputs(scenes: list[dict], args: argparse.Namespace
                    ) -> list[tuple[str, str]]:
    """Every file the run writes, ``(path, what it is)``.

    Named as :func:`~m3plugins.apis.large_scene_inference.infer_large_scene`
    names them: the class map, ``<stem>.png`` and ``<stem>_probs.tif``.
    """
    outputs = []
    named = '--out' if args.scenes is None else f'out of {args.scenes}'
    for scene in scenes:
        out = scene['out']
        stem = os.path.splitext(out)[0]
        outputs.append((out, f'class map, {named}'))
        if not args.no_preview:
            outputs.append((f'{stem}.png', f'PNG preview of {out}'))
        if args.save_probs:
            outputs.append((f'{stem}_probs.tif', f'probabilities of {out}'))
    return outputs


def input_files(scenes: list[dict], args: argparse.Namespace
                ) -> dict[str, str]:
    """Every file the run reads (path -> how the command line names it)."""
    from m3plugins.io.raster_reading import split_mat_key
    inputs = {args.config: 'config'}
    if args.checkpoint.lower() != 'none':
        inputs[args.checkpoint] = 'checkpoint'
    if args.scenes is not None:
        inputs[args.scenes] = '--scenes'
    for scene in scenes:
        for name, path in scene['rasters'].items():
            inputs.setdefault(split_mat_key(path)[0], f'--modality {name}')
    return inputs


def _report(result) -> None:
    print(f'class map:     {result.class_map} ({result.height}x'
          f'{result.width}, {result.num_classes} classes, '
          f'{"georeferenced" if result.georeferenced else "no CRS"})')
    if result.probabilities:
        print(f'probabilities: {result.probabilities}')
    if result.preview:
        print(f'preview:       {result.preview}')
    print(f'normalisation: {result.normalization}')
    print(f'{result.num_tiles} tiles of {result.tile_size[0]}x'
          f'{result.tile_size[1]}, overlap {result.overlap}, '
          f'{result.seconds:.1f} s, {result.megapixels_per_second:.4g} MP/s'
          f', {result.num_processes} process'
          f'{"es" if result.num_processes > 1 else ""}')


def main(argv=None) -> int:
    """Segment every scene named on the command line.

    Args:
        argv: Arguments; None: ``sys.argv[1:]``.

    Returns:
        int: The exit status (0: every map written; 2: a user error, whose
        message is printed).
    """
    args = parse_args(argv)
    from m3plugins.utils.user_errors import exit_on_user_error
    if args.debug:
        os.environ['M3PLUGINS_DEBUG'] = '1'
    try:
        with exit_on_user_error():
            return segment_scenes(args)
    except SystemExit as user_error:  # message printed; status 2
        return user_error.code


def segment_scenes(args: argparse.Namespace) -> int:
    """Segment the scenes of the command line (this rank's share).

    Args:
        args: The parsed command line.

    Returns:
        int: The exit status (0: every map written).

    Raises:
        Errors of the inputs (rasters, checkpoint, modalities), which
        :func:`main` reports as user errors.
    """
    from m3plugins.apis.large_scene_inference import (
        infer_large_scene,
        load_segmentor,
    )
    from m3plugins.apis.tile_sharing import TileSharing
    from m3plugins.models.foundation.weight_files import (
        check_config_pretrained_weights,
    )
    from m3plugins.utils.output_paths import check_outputs
    from m3plugins.utils.thread_policy import apply_thread_policy
    if args.scenes is not None:
        scenes = read_scene_list(args.scenes)
    else:
        scenes = [dict(out=args.out,
                       rasters=_pairs(args.modality, '--modality'))]
    # Before any work: outputs that would replace an input or an existing
    # file, and tower weights that are not there.
    check_outputs(planned_outputs(scenes, args), input_files(scenes, args),
                  overwrite=args.overwrite)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_config_pretrained_weights(cfg.model)
    normalization = _pairs(args.normalization, '--normalization') or None
    checkpoint = None if args.checkpoint.lower() == 'none' else \
        args.checkpoint
    device = args.device
    if args.launcher != 'none':
        import torch

        from m3plugins.engine.distributed_init import init_dist_on_any_device
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
        init_dist_on_any_device(args.launcher)
        if device is None and torch.cuda.is_available():
            device = f'cuda:{int(os.environ["LOCAL_RANK"])}'
    threads = apply_thread_policy(args.threads)
    print(f'{threads.threads} intra-op thread(s) ({threads.reason})',
          flush=True)
    ranks = TileSharing.from_process_group()
    # As many scenes as ranks or more: each rank segments whole scenes;
    # otherwise the ranks share the tiles of each scene.
    by_scene = ranks.distributed and len(scenes) >= ranks.world_size
    mine = [scene for index, scene in enumerate(scenes)
            if not by_scene or index % ranks.world_size == ranks.rank]
    model = load_segmentor(args.config, checkpoint, device,
                           args.cfg_options)
    ranks.same_weights(model)
    for scene in mine:
        result = infer_large_scene(
            model,
            scene['rasters'],
            scene['out'],
            tile_size=args.tile_size[0] if args.tile_size and len(
                args.tile_size) == 1 else args.tile_size,
            overlap=args.overlap[0] if args.overlap and len(
                args.overlap) == 1 else args.overlap,
            batch_size=args.batch_size,
            save_probabilities=args.save_probs,
            probability_dtype=args.probs_dtype,
            save_preview=not args.no_preview,
            class_offset=args.class_offset,
            normalization=normalization,
            progress=not args.no_progress,
            gdal_cache_mb=args.gdal_cache_mb,
            sharing=TileSharing() if by_scene else ranks)
        if by_scene or ranks.writes:
            _report(result)
    ranks.barrier()
    return 0


if __name__ == '__main__':
    sys.exit(main())
