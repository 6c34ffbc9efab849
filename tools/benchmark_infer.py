"""Benchmark large-scene inference: throughput and peak memory.

Writes a generated georeferenced optical (3-band uint8) + DSM (float32)
GeoTIFF pair of ``--size`` x ``--size`` pixels (default 6000, a whole Potsdam
tile; EPSG:32632, 5 cm pixels), then runs, each in a fresh process so that
its peak resident memory (max RSS) is its own:

* ``tiled``: :func:`m3plugins.apis.large_scene_inference.infer_large_scene`
  (windowed reads, streaming statistics, blended tiles, rows written as they
  finish);
* ``baseline`` (unless ``--no-baseline``): the in-memory way with MMSeg
  alone: read both rasters whole, normalise, stack, MMSeg's
  ``slide_inference`` over the whole scene with the same crop and stride,
  argmax, write the GeoTIFF.

and prints, per mode, the median over ``--repeats`` runs of the wall time
(megapixels per second) and the peak RSS, the ratios tiled / baseline, and
the share of pixels whose classes agree (the two blend overlaps differently:
weighted vs. plain average).

The default model is the small MoBaNet demo config (random weights, CPU).
The full 6000 x 6000 run takes several minutes on 2 cores; ``--size 1500``
gives a quick figure.

Example:
    python tools/benchmark_infer.py --size 1500 --tile-size 224 \
        --overlap 56 --batch-size 4
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

DEFAULT_CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'mobanet',
    'mobanet_demo.py')


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line of the inference benchmark.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: The model, scene and tiling options, the repeats
        and (in a child process) ``run_mode``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='optical + DSM model config (default: the '
                        'MoBaNet demo)')
    parser.add_argument('--size', type=int, default=6000,
                        help='scene side in pixels')
    parser.add_argument('--tile-size', type=int, default=None,
                        help='tile side (default: the model\'s data '
                        'contract, else its config)')
    parser.add_argument('--overlap', type=int, default=None,
                        help='overlap (default: a quarter tile)')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--no-baseline', action='store_true',
                        help='skip the in-memory MMSeg slide baseline')
    parser.add_argument('--work-dir', default=None,
                        help='where the rasters and maps go (default: a '
                        'temporary directory, removed afterwards)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the rasters and maps of an earlier '
                        'run in --work-dir')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='config overrides KEY=VALUE, as in tools/infer')
    # Internal: run one mode in this process and print its JSON result.
    parser.add_argument('--run-mode', choices=['tiled', 'baseline'],
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def write_scene(work_dir: str, size: int, seed: int = 0) -> dict:
    """Write the generated optical + DSM GeoTIFFs, 512 rows at a time."""
    import rasterio
    from rasterio.transform import Affine
    rng = np.random.default_rng(seed)
    # 5 cm pixels, top-left corner at (500000, 5400000); written out rather
    # than rasterio's from_origin, which warns (affine's `*` deprecation).
    transform = Affine(0.05, 0.0, 500000.0, 0.0, -0.05, 5400000.0)
    common = dict(driver='GTiff', height=size, width=size, crs='EPSG:32632',
                  transform=transform, tiled=True, blockxsize=256,
                  blockysize=256)
    paths = dict(optical=osp.join(work_dir, 'optical.tif'),
                 dsm=osp.join(work_dir, 'dsm.tif'))
    from rasterio.windows import Window

    from m3plugins.utils.atomic_write import atomic_write_path
    with atomic_write_path(paths['optical']) as optical_temp, \
            atomic_write_path(paths['dsm']) as dsm_temp, \
            rasterio.open(optical_temp, 'w', count=3, dtype='uint8',
                          **common) as optical, \
            rasterio.open(dsm_temp, 'w', count=1, dtype='float32',
                          **common) as dsm:
        xx = np.arange(size, dtype=np.float32)[None, :]
        for row in range(0, size, 512):
            rows = min(512, size - row)
            yy = np.arange(row, row + rows, dtype=np.float32)[:, None]
            bands = [
                127 + 100 * np.sin(xx / (40 + 9 * k) + k) *
                np.cos(yy / (55 + 7 * k)) +
                rng.normal(0, 12, (rows, size)) for k in range(3)
            ]
            window = Window(0, row, size, rows)
            optical.write(
                np.clip(np.stack(bands), 0, 255).astype(np.uint8),
                window=window)
            height = 30 + 8 * (np.sin(xx / 70) * np.sin(yy / 90) > 0.3) + \
                rng.normal(0, 0.2, (rows, size))
            dsm.write(height[None].astype(np.float32), window=window)
    return paths


def _cfg_options(pairs):
    from mmengine.config import DictAction
    options = {}
    for pair in pairs:
        key, _, value = pair.partition('=')
        options[key] = DictAction._parse_iterable(value)
    return options or None


def run_tiled(args, paths, out_path) -> dict:
    """Time :func:`infer_large_scene` on the scene.

    Args:
        args: The parsed command line.
        paths: ``optical`` and ``dsm`` GeoTIFF paths.
        out_path: Where the class map GeoTIFF goes.

    Returns:
        dict: ``seconds``, ``rss_after_model_kb``, ``tile_size``,
        ``overlap`` and ``num_tiles``.
    """
    from m3plugins.apis.large_scene_inference import (
        infer_large_scene,
        load_segmentor,
    )
    model = load_segmentor(args.config, None, args.device,
                           _cfg_options(args.cfg_options))
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = infer_large_scene(
        model, paths, out_path, tile_size=args.tile_size,
        overlap=args.overlap, batch_size=args.batch_size,
        save_preview=False, progress=True)
    seconds = time.perf_counter() - start
    return dict(seconds=seconds, rss_after_model_kb=rss_model,
                tile_size=result.tile_size, overlap=result.overlap,
                num_tiles=result.num_tiles)


def run_baseline(args, paths, out_path) -> dict:
    """Whole rasters in memory + MMSeg's slide_inference, same crop/stride.

    Args:
        args: The parsed command line.
        paths: ``optical`` and ``dsm`` GeoTIFF paths.
        out_path: Where the class map GeoTIFF goes.

    Returns:
        dict: ``seconds``, ``rss_after_model_kb``, ``tile_size`` and
        ``overlap``.
    """
    import rasterio
    import torch
    from mmseg.structures import SegDataSample

    from m3plugins.apis.inference_contract import inference_contract
    from m3plugins.apis.large_scene_inference import load_segmentor
    from m3plugins.datasets.normalization import normalize
    from m3plugins.utils.modalities import stack_modalities
    model = load_segmentor(args.config, None, args.device,
                           _cfg_options(args.cfg_options))
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The tiled run's tile size and normalisation: the model's contract.
    contract = inference_contract(model)
    tile = contract.tile_size
    if args.tile_size is not None:
        tile = (args.tile_size, args.tile_size)
    overlap = (tile[0] // 4, tile[1] // 4)
    if args.overlap is not None:
        overlap = (args.overlap, args.overlap)
    methods = {m.name: m.normalization for m in contract.modalities}
    start = time.perf_counter()
    arrays = {}
    with rasterio.open(paths['optical']) as src:
        arrays['optical'] = np.moveaxis(src.read(), 0, -1)
        profile = src.profile
    with rasterio.open(paths['dsm']) as src:
        arrays['dsm'] = src.read(1)
    stacked = stack_modalities(
        {name: normalize(array, methods[name])
         for name, array in arrays.items()})
    del arrays
    data = model.data_preprocessor(
        dict(inputs=[torch.from_numpy(stacked.transpose(2, 0, 1).copy())],
             data_samples=[SegDataSample()]), False)
    del stacked
    from mmengine.config import ConfigDict
    model.test_cfg = ConfigDict(
        mode='slide', crop_size=tile,
        stride=(tile[0] - overlap[0], tile[1] - overlap[1]))
    inputs = data['inputs']
    shape = tuple(inputs.shape[2:])
    with torch.no_grad():
        logits = model.slide_inference(
            inputs, [dict(img_shape=shape, ori_shape=shape, pad_shape=shape)])
    classes = logits[0].argmax(0).to(torch.uint8).cpu().numpy()
    profile.update(count=1, dtype='uint8', nodata=255, compress='deflate')
    from m3plugins.utils.atomic_write import atomic_write_path
    with atomic_write_path(out_path) as temp_path, \
            rasterio.open(temp_path, 'w', **profile) as dst:
        dst.write(classes, 1)
    seconds = time.perf_counter() - start
    return dict(seconds=seconds, rss_after_model_kb=rss_model,
                tile_size=tile, overlap=overlap)


def child(args) -> None:
    """Run one mode in this process and print its result as JSON.

    Args:
        args: The parsed command line, with ``run_mode`` and ``work_dir``.
    """
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    # Both modes must build the same random weights.
    torch.manual_seed(0)
    paths = dict(optical=osp.join(args.work_dir, 'optical.tif'),
                 dsm=osp.join(args.work_dir, 'dsm.tif'))
    out_path = osp.join(args.work_dir, f'map_{args.run_mode}.tif')
    run = run_tiled if args.run_mode == 'tiled' else run_baseline
    result = run(args, paths, out_path)
    result['peak_rss_kb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print('BENCHMARK-RESULT ' + json.dumps(result), flush=True)


def spawn(args, mode: str, argv) -> dict:
    """Run one mode in a fresh process and read back its result.

    Args:
        args: The parsed command line (its ``work_dir`` is passed on).
        mode: ``'tiled'`` or ``'baseline'``.
        argv: The parent's arguments, without ``--work-dir``.

    Returns:
        dict: The child's result (see :func:`run_tiled`,
        :func:`run_baseline`) plus its ``peak_rss_kb``.

    Raises:
        SystemExit: If the child process fails.
    """
    command = [sys.executable, osp.abspath(__file__), *argv, '--run-mode',
               mode, '--work-dir', args.work_dir]
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if completed.returncode != 0:
        raise SystemExit(f'{mode} run failed (exit {completed.returncode})')
    line = [ln for ln in completed.stdout.splitlines()
            if ln.startswith('BENCHMARK-RESULT ')][-1]
    return json.loads(line[len('BENCHMARK-RESULT '):])


def check_work_dir_outputs(args: argparse.Namespace) -> None:
    """Refuse to replace files in a user's ``--work-dir`` (before any work).

    Raises:
        OutputOverwriteError: For a scene raster or map that exists
            (without ``--overwrite``) or is the config.
    """
    from m3plugins.utils.output_paths import check_outputs
    modes = ['tiled'] + ([] if args.no_baseline else ['baseline'])
    names = {'optical.tif': 'generated optical raster',
             'dsm.tif': 'generated DSM raster'}
    names.update({f'map_{mode}.tif': f'{mode} class map' for mode in modes})
    check_outputs({osp.join(args.work_dir, name): label
                   for name, label in names.items()},
                  {args.config: '--config'}, overwrite=args.overwrite)


def main(argv=None) -> None:
    """Write the scene, run each mode ``--repeats`` times, print figures.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.run_mode:
        child(args)
        return
    cleanup = None
    if args.work_dir is None:
        cleanup = tempfile.TemporaryDirectory(prefix='m3_bench_infer_')
        args.work_dir = cleanup.name
    else:
        from m3plugins.utils.user_errors import exit_on_user_error
        with exit_on_user_error():
            check_work_dir_outputs(args)
    os.makedirs(args.work_dir, exist_ok=True)
    parent_argv = [a for a in argv]
    if '--work-dir' in parent_argv:
        index = parent_argv.index('--work-dir')
        del parent_argv[index:index + 2]
    start = time.perf_counter()
    write_scene(args.work_dir, args.size)
    print(f'scene: {args.size} x {args.size} optical (3 x uint8) + DSM '
          f'(float32), written in {time.perf_counter() - start:.1f} s')
    megapixels = args.size * args.size / 1e6
    modes = ['tiled'] + ([] if args.no_baseline else ['baseline'])
    summary = {}
    for mode in modes:
        runs = [spawn(args, mode, parent_argv) for _ in range(args.repeats)]
        seconds = statistics.median(r['seconds'] for r in runs)
        peak = statistics.median(r['peak_rss_kb'] for r in runs) / 1024
        model_rss = statistics.median(r['rss_after_model_kb']
                                      for r in runs) / 1024
        summary[mode] = dict(seconds=seconds, peak=peak)
        extra = f', {runs[0]["num_tiles"]} tiles' if 'num_tiles' in runs[
            0] else ''
        print(f'{mode:8s}: median {seconds:8.1f} s = '
              f'{megapixels / seconds:7.3f} MP/s; peak RSS {peak:8.0f} MB '
              f'(after model build {model_rss:6.0f} MB); tile '
              f'{runs[0]["tile_size"]} overlap {runs[0]["overlap"]}{extra}; '
              f'{len(runs)} run(s)')
    if 'baseline' in summary:
        import rasterio
        with rasterio.open(osp.join(args.work_dir, 'map_tiled.tif')) as a, \
                rasterio.open(osp.join(args.work_dir,
                                       'map_baseline.tif')) as b:
            agree = float((a.read(1) == b.read(1)).mean())
        tiled, base = summary['tiled'], summary['baseline']
        time_ratio = tiled['seconds'] / base['seconds']
        memory_ratio = tiled['peak'] / base['peak']
        print(f'ratio tiled / baseline: time {time_ratio:.2f}x, peak RSS '
              f'{memory_ratio:.2f}x; class agreement {100 * agree:.2f}% of '
              'pixels')
    if cleanup is not None:
        cleanup.cleanup()


if __name__ == '__main__':
    main()
