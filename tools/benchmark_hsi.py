"""Whole-scene HSI inference vs. classifying each labeled pixel from its patch.

Issue item 7. On a generated Houston2013-sized scene (349 x 1905 pixels,
144 HSI + 1 LiDAR bands, min-max range [0, 1]) with the weights of a config
(random initialisation; only speed and agreement are measured):

1. **whole scene**: one forward over the whole scene (the model zero-pads by
   its own receptive field), argmax per pixel;
2. **per pixel**: every labeled pixel (2832 + 12197 at Houston2013's count,
   placed at random) classified from its own ``patch_size`` x
   ``patch_size`` patch of the zero-padded scene, one forward per patch
   (``--patch-batch 1``) and, as a fairer baseline, ``--patch-batch`` B
   patches per forward. Only a random sample of ``--sample-pixels`` labeled
   pixels is timed; the time for all labeled pixels is extrapolated
   linearly (printed as such);
3. predictions of 2. equal those of 1. at every sampled pixel (asserted);
   the time of a full map (every scene pixel) patch by patch is
   extrapolated too;
4. the work of each mode, counted rather than timed: pixel sequences
   through the piece scan (a hook on the backbone's PSS). The time ratio
   on labeled pixels is the work ratio times the ratio of cost per
   sequence (per-forward overhead). At Houston2013's density (2.3 %
   labeled) the work ratio is small: a 7 x 7 patch scans 81 sequences
   (the model pads its input by its 2-pixel halo and trims 1 after GSSM),
   so all labeled pixels scan ``15029 * 81``, 1.8x the scene. A whole
   scene on labeled pixels alone therefore wins by little more than
   per-forward overhead; on a full map it saves a factor of about 81;
5. training iterations per second with the config's train batch (crops
   of the crop protocol with ``--train-label-fraction`` labeled in small
   squares, Houston2013's density; or patches with the centre labeled),
   for the config's ``SparseLabelEncoderDecoder``, which scans only the
   pixels the labels read, and for MMSeg's ``EncoderDecoder`` with the
   same weights (every pixel), the baseline; ratio printed.

Timings are medians of ``--repeats`` runs (whole scene) or of per-chunk
rates; peak memory is the growth of the process's peak RSS (CPU) or
``torch.cuda.max_memory_allocated`` (CUDA) during the measured call, each
mode measured in a fresh subprocess so one mode's peak cannot hide another's.

Example:
    python tools/benchmark_hsi.py                      # quick default run
    python tools/benchmark_hsi.py --sample-pixels 2000 --repeats 3
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time

import torch

DEFAULT_CONFIG = 'configs/spectralmamba/spectralmamba_houston2013.py'


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line of the HSI benchmark.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: The config, scene size, labeled pixels, baseline
        and training options, device, threads and seed.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--height', type=int, default=349)
    parser.add_argument('--width', type=int, default=1905)
    parser.add_argument(
        '--labeled', type=int, default=2832 + 12197,
        help='labeled pixels of the scene (Houston2013: 2832 + 12197)')
    parser.add_argument(
        '--patch-size', type=int, default=7,
        help='patch side of the per-pixel baseline (the patch-protocol '
        'config uses 7; must be >= the receptive field)')
    parser.add_argument('--patch-batch', type=int, default=256)
    parser.add_argument(
        '--sample-pixels', type=int, default=512,
        help='labeled pixels timed per baseline (extrapolated to all)')
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--train-iters', type=int, default=5)
    parser.add_argument(
        '--train-label-fraction', type=float, default=0.016,
        help='labeled fraction of a training crop (Houston2013: 1.6 %% on '
        'average over the crops that hold a training label)')
    parser.add_argument(
        '--train-label-block', type=int, default=4,
        help='side of the labeled squares placed in a training crop')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _build(args):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import m3plugins  # noqa: F401
    from m3plugins.models.layout import config_modality_channels
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    cfg = Config.fromfile(args.config)
    if getattr(args, 'dense_training', False):
        cfg.model.type = 'EncoderDecoder'   # the baseline: every pixel
        # MMSeg's EncoderDecoder does not hand the preprocessor's layout to
        # the backbone; give it explicitly.
        cfg.model.backbone.modality_channels = [
            list(item) for item in
            config_modality_channels(cfg.model).items()]
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model).to(args.device).eval()
    channels = sum(config_modality_channels(cfg.model).values())
    generator = torch.Generator().manual_seed(args.seed)
    scene = torch.rand(1, channels, args.height, args.width,
                       generator=generator)
    flat = torch.randperm(args.height * args.width,
                          generator=generator)[:args.labeled]
    rows, cols = flat // args.width, flat % args.width
    return cfg, model, scene.to(args.device), rows, cols


def _metas(height, width, count=1):
    from mmseg.structures import SegDataSample
    meta = dict(img_shape=(height, width), ori_shape=(height, width))
    return [SegDataSample(metainfo=meta).metainfo for _ in range(count)]


def _count_scanned_pixels(model) -> dict:
    """Count the pixel sequences the model's piece scan processes.

    Returns counters that a forward pre-hook on the backbone's PSS module
    increments on every call: ``'scanned'`` by the pixels it scans (those of
    its ``pixel_mask`` if given, else all ``B * H * W``), ``'grid'`` by all
    ``B * H * W``. The work of a forward, independent of timing noise.
    """
    counter = dict(scanned=0, grid=0)

    def hook(module, args, kwargs):
        spectrum = args[0]
        grid = spectrum.shape[0] * spectrum.shape[2] * spectrum.shape[3]
        mask = kwargs.get('pixel_mask')
        counter['scanned'] += grid if mask is None else int(mask.sum())
        counter['grid'] += grid

    model.backbone.pss.register_forward_pre_hook(hook, with_kwargs=True)
    return counter


def _sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def run_whole(args, queue):
    """Time whole-scene inference (runs in a subprocess).

    Args:
        args: The parsed command line.
        queue: Receives a dict: median ``seconds``, ``peak_mb``,
            ``scanned`` pixel sequences per pass and ``pred``, the (L,)
            predicted classes at the L labeled pixels.
    """
    _, model, scene, rows, cols = _build(args)
    scanned = _count_scanned_pixels(model)
    metas = _metas(args.height, args.width)
    times = []
    if args.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    before = _rss_mb()
    with torch.no_grad():
        for _ in range(args.repeats):
            _sync(args.device)
            start = time.perf_counter()
            pred = model.encode_decode(scene, metas).argmax(1)[0]
            _sync(args.device)
            times.append(time.perf_counter() - start)
    if args.device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = _peak_rss_mb() - before
    queue.put(dict(seconds=statistics.median(times), peak_mb=peak,
                   scanned=scanned['scanned'] // args.repeats,
                   pred=pred[rows, cols].cpu().numpy()))


def run_patches(args, queue):
    """Time per-pixel patch classification (runs in a subprocess).

    Args:
        args: The parsed command line.
        queue: Receives a dict: ``sample``, the (S,) indices of the timed
            labeled pixels, and per patch batch B (1 and
            ``--patch-batch``) a dict of ``seconds_per_pixel``,
            ``scanned_per_pixel``, ``peak_mb`` and ``pred`` (S,).

    Raises:
        ValueError: If the patch is smaller than the receptive field.
    """
    import torch.nn.functional as F
    _, model, scene, rows, cols = _build(args)
    scanned = _count_scanned_pixels(model)
    half = args.patch_size // 2
    if half < model.backbone.receptive_field // 2:
        raise ValueError(f'--patch-size {args.patch_size} is smaller than '
                         'the receptive field '
                         f'{model.backbone.receptive_field}')
    padded = F.pad(scene, (half, ) * 4)
    generator = torch.Generator().manual_seed(args.seed + 1)
    sample = torch.randperm(rows.numel(),
                            generator=generator)[:args.sample_pixels]
    results = dict(sample=sample.numpy())
    for batch in sorted({1, args.patch_batch}):
        metas = _metas(args.patch_size, args.patch_size, batch)
        preds, rates = [], []
        scanned['scanned'] = 0
        if args.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        before = _rss_mb()
        with torch.no_grad():
            for start in range(0, sample.numel(), batch):
                idx = sample[start:start + batch]
                _sync(args.device)
                tic = time.perf_counter()
                patches = torch.cat([
                    padded[..., r:r + args.patch_size, c:c + args.patch_size]
                    for r, c in zip(rows[idx].tolist(), cols[idx].tolist())
                ])
                logits = model.encode_decode(patches, metas[:idx.numel()])
                preds.append(logits[:, :, half, half].argmax(1))
                _sync(args.device)
                rates.append((time.perf_counter() - tic) / idx.numel())
        if args.device.startswith('cuda'):
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak = _peak_rss_mb() - before
        results[batch] = dict(
            seconds_per_pixel=statistics.median(rates),
            scanned_per_pixel=scanned['scanned'] / sample.numel(),
            peak_mb=peak,
            pred=torch.cat(preds).cpu().numpy())
    queue.put(results)


def _training_labels(size, num_classes, fraction, block, protocol,
                     generator):
    """Sparse labels of one training window, (1, size, size), 255 = none.

    Crop protocol: ``block`` x ``block`` squares of one class (ground truth
    comes in small polygons) until ``fraction`` of the window is labeled.
    Patch protocol: only the centre pixel, as the real protocol.
    """
    labels = torch.full((1, size, size), 255, dtype=torch.long)
    if protocol == 'patch':
        labels[0, size // 2, size // 2] = int(
            torch.randint(0, num_classes, (1, ), generator=generator))
        return labels
    block = min(block, size)
    while int((labels != 255).sum()) < max(1, round(fraction * size * size)):
        top, left = torch.randint(0, size - block + 1, (2, ),
                                  generator=generator).tolist()
        labels[0, top:top + block, left:left + block] = int(
            torch.randint(0, num_classes, (1, ), generator=generator))
    return labels


def run_training(args, queue):
    """Time training iterations on random windows (runs in a subprocess).

    With ``args.dense_training`` the config's segmentor is replaced by
    MMSeg's ``EncoderDecoder`` (the dense baseline).

    Args:
        args: The parsed command line.
        queue: Receives a dict: median ``iters_per_s``, ``batch``, window
            ``size``, ``protocol``, ``segmentor`` and ``scanned_fraction``
            (scanned pixel sequences over all of the grid).
    """
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    cfg, model, scene, rows, cols = _build(args)
    model.train()
    scanned = _count_scanned_pixels(model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    loader = cfg.train_dataloader
    batch = loader.batch_size
    dataset = loader.dataset
    protocol = dataset.get('protocol', 'crop')
    size = dataset.get('patch_size') if protocol == 'patch' \
        else dataset.get('crop_size', 32)
    generator = torch.Generator().manual_seed(args.seed + 2)
    num_classes = cfg.model.decode_head.num_classes
    rates = []
    for step in range(args.train_iters + 1):
        tops = torch.randint(0, args.height - size, (batch, ),
                             generator=generator)
        lefts = torch.randint(0, args.width - size, (batch, ),
                              generator=generator)
        inputs = torch.cat([
            scene[..., top:top + size, left:left + size]
            for top, left in zip(tops.tolist(), lefts.tolist())
        ])
        samples = []
        for _ in range(batch):
            labels = _training_labels(size, num_classes,
                                      args.train_label_fraction,
                                      args.train_label_block, protocol,
                                      generator)
            sample = SegDataSample(
                metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
            sample.gt_sem_seg = PixelData(data=labels.to(args.device))
            samples.append(sample)
        _sync(args.device)
        tic = time.perf_counter()
        losses = model.loss(inputs, samples)
        loss, _ = model.parse_losses(losses)
        optim.update_params(loss)
        _sync(args.device)
        if step:  # the first step warms up
            rates.append(1.0 / (time.perf_counter() - tic))
    queue.put(dict(iters_per_s=statistics.median(rates), batch=batch,
                   size=size, protocol=protocol, segmentor=cfg.model.type,
                   scanned_fraction=scanned['scanned'] /
                   max(scanned['grid'], 1)))


def _in_subprocess(target, args):
    context = mp.get_context('spawn')
    queue = context.Queue()
    process = context.Process(target=target, args=(args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        sys.exit(f'{target.__name__} failed with exit code '
                 f'{process.exitcode}')
    return result


def main(argv=None) -> dict:
    """Run every mode in its own subprocess and print the comparison.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).

    Returns:
        dict: The headline figures (also printed as JSON).
    """
    args = parse_args(argv)
    print(f'Scene {args.height} x {args.width}, {args.labeled} labeled '
          f'pixels, config {args.config}, device {args.device}, threads '
          f'{args.threads or torch.get_num_threads()}')
    whole = _in_subprocess(run_whole, args)
    patches = _in_subprocess(run_patches, args)
    train = _in_subprocess(run_training, args)
    dense = _in_subprocess(run_training,
                           argparse.Namespace(**vars(args),
                                              dense_training=True))

    sample = patches['sample']
    report = dict(
        whole_scene_s=whole['seconds'],
        whole_scene_peak_mb=whole['peak_mb'],
        train_iters_per_s=train['iters_per_s'])
    per_sequence = whole['seconds'] / whole['scanned']
    print(f'\nwhole scene, one pass: {whole["seconds"]:.2f} s (median of '
          f'{args.repeats}), peak memory +{whole["peak_mb"]:.0f} MiB')
    print(f'  work: {whole["scanned"]:,} pixel sequences through the piece '
          f'scan, {1e6 * per_sequence:.1f} us each')
    for batch in sorted(k for k in patches if isinstance(k, int)):
        result = patches[batch]
        same = int((result['pred'] == whole['pred'][sample]).sum())
        if same != sample.size:
            raise AssertionError(
                f'patch-by-patch predictions differ from the whole-scene '
                f'ones at {sample.size - same} of {sample.size} pixels')
        total = result['seconds_per_pixel'] * args.labeled
        ratio = total / whole['seconds']
        work = result['scanned_per_pixel'] * args.labeled / whole['scanned']
        print(f'per pixel, {args.patch_size} x {args.patch_size} patches, '
              f'{batch} per forward: {1e3 * result["seconds_per_pixel"]:.3f}'
              f' ms/pixel (median over {sample.size} sampled pixels) -> '
              f'{total:.1f} s for all {args.labeled} labeled pixels '
              f'(extrapolated), peak memory +{result["peak_mb"]:.0f} MiB; '
              f'whole scene is {ratio:.1f}x faster')
        print(f'  predictions identical at {same} / {sample.size} sampled '
              'labeled pixels')
        print(f'  work: {result["scanned_per_pixel"]:.0f} pixel sequences '
              f'per patch, {work:.2f}x the whole scene\'s for all labeled '
              f'pixels; the rest of the ratio, {ratio / work:.1f}x, is the '
              'cost per sequence (per-forward overhead)')
        full_map = result['seconds_per_pixel'] * args.height * args.width
        print(f'  a full {args.height} x {args.width} map patch by patch '
              f'(extrapolated): {full_map:.1f} s; whole scene is '
              f'{full_map / whole["seconds"]:.1f}x faster')
        report[f'patch_batch{batch}_s_all'] = total
        report[f'ratio_batch{batch}'] = ratio
        report[f'work_ratio_batch{batch}'] = work
        report[f'full_map_ratio_batch{batch}'] = full_map / whole['seconds']
    for name, result in (('training', train), ('  baseline', dense)):
        print(f'{name}: {result["iters_per_s"]:.2f} it/s with '
              f'{result["segmentor"]} (median of {args.train_iters}, batch '
              f'{result["batch"]} x {result["size"]} x {result["size"]} '
              f'{result["protocol"]} windows, '
              f'{args.train_label_fraction:.1%} labeled; '
              f'{result["scanned_fraction"]:.1%} of the pixels scanned)')
    print(f'  sparse-label training is '
          f'{train["iters_per_s"] / dense["iters_per_s"]:.1f}x faster than '
          'dense training (same losses and gradients)')
    report['train_dense_iters_per_s'] = dense['iters_per_s']
    print(json.dumps(report))
    return report


if __name__ == '__main__':
    main()
