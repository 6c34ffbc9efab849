"""One-command GPU check: CUDA tests, scan benchmark, a step per model family.

On one CUDA device, within about 6 minutes, prints:

1. the result of the CUDA tests of the selective scan (``pytest -k cuda`` on
   ``tests/test_ops``: the Triton kernels against the torch backend at full
   size, and mamba-ssm's kernel when it imports);
2. the CUDA section of ``tools/benchmark_scan.py`` (Triton vs the torch path
   vs mamba-ssm, fp32 and bf16, medians, ratios, achieved bandwidth);
3. per model family, with the default config's model (random weights;
   every pretrained-weight source removed, so the frozen foundation towers are
   random too) and the default scan backend (``'auto'``): one training step
   under bf16 autocast (forward, loss, backward, the config's optimizer step)
   and one bf16 inference, as images (or pixels) per second and
   ``torch.cuda.max_memory_allocated`` of each:

   * MoBaNet ViT-L (``configs/mobanet_potsdam.py``): a batch of 8 random
     256 x 256 RGB + DSM crops;
   * M3amba Houston2013 (``configs/m3amba/m3amba_houston2013.py``): a batch
     of 64 random 32 x 32 HSI + LiDAR crops;
   * SpectralMamba Houston2013
     (``configs/spectralmamba/spectralmamba_houston2013.py``): one whole
     Houston2013-sized scene (349 x 1905 pixels, the config's bands) with
     2832 labeled pixels (the training split's count) for the training step.

Each part runs in its own subprocess with its own time limit, so one failure
(or a broken CUDA context) does not hide the others; a family's figures are
medians of ``--repeats`` runs after one warm-up.

Exit status: 0 when every part passed. Without a CUDA device it prints
``no CUDA device: skipped`` and exits 0 (so it can sit in scripts that also
run on CPU machines); 1 when any part failed or timed out.

Example:
    python tools/gpu_check.py
    python tools/gpu_check.py --skip-tests --families m3amba
"""
import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: name -> (config, batch size, input height, input width, labeled pixels per
#: input or None for 10 % of the pixels).
FAMILIES = {
    'mobanet': ('configs/mobanet_potsdam.py', 8, 256, 256, None),
    'm3amba': ('configs/m3amba/m3amba_houston2013.py', 64, 32, 32, None),
    'spectralmamba': ('configs/spectralmamba/spectralmamba_houston2013.py',
                      1, 349, 1905, 2832),
}
#: Seconds each part may take (about 6 minutes in all).
TIME_LIMITS = dict(tests=110, benchmark=100, mobanet=60, m3amba=45,
                   spectralmamba=45)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line of the GPU check.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: The families to run, the parts to skip, the
        repeats and (in a family's subprocess) ``family_child``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--families', nargs='+', choices=sorted(FAMILIES),
                        default=list(FAMILIES))
    parser.add_argument('--skip-tests', action='store_true')
    parser.add_argument('--skip-benchmark', action='store_true')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--family-child', choices=sorted(FAMILIES),
                        default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def input_channels(cfg) -> int:
    """Channels of the stacked model input, from the config's modalities."""
    from m3plugins.models.layout import config_modality_channels
    modalities = config_modality_channels(cfg.model)
    if modalities:
        return sum(modalities.values())
    return len(cfg.model.data_preprocessor['mean'])


def random_labels(batch, height, width, num_classes, labeled, generator):
    """Random labels on a few random pixels per input, 255 elsewhere.

    Args:
        batch: Number of inputs N.
        height: Input height H.
        width: Input width W.
        num_classes: Labels are drawn from ``0..num_classes - 1``.
        labeled: Labeled pixels per input (None: 10 % of the pixels).
        generator: The ``torch.Generator`` of the draws.

    Returns:
        torch.Tensor: (N, 1, H, W) int64 labels, 255 (ignored) outside the
        ``labeled`` random pixels of each input.
    """
    import torch
    labels = torch.randint(0, num_classes, (batch, 1, height, width),
                           generator=generator)
    count = labeled if labeled is not None else max(1, height * width // 10)
    keep = torch.zeros(batch, height * width, dtype=torch.bool)
    for row in keep:
        row[torch.randperm(height * width, generator=generator)[:count]] = True
    labels[~keep.view_as(labels)] = 255
    return labels


def family_child(name: str, repeats: int) -> None:
    """Build one family's model on CUDA and print its step figures.

    Runs in a subprocess; prints the median time, throughput and peak memory
    of a bf16 training step and a bf16 inference.

    Args:
        name: The family, a key of :data:`FAMILIES`.
        repeats: Timed runs after one warm-up; the median is printed.
    """
    import torch
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    import m3plugins  # noqa: F401
    from m3plugins.utils.offline_configs import without_pretrained_weights

    config, batch, height, width, labeled = FAMILIES[name]
    # Keep mmengine's per-parameter optimizer and init logs out of the report.
    MMLogger.get_instance('gpu_check', log_level='ERROR')
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(REPO, config))
    torch.manual_seed(0)
    model = MODELS.build(without_pretrained_weights(cfg.model))
    model.init_weights()
    model = revert_sync_batchnorm(model).cuda()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    channels = input_channels(cfg)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(batch, channels, height, width,
                        generator=generator).cuda()
    labels = random_labels(batch, height, width,
                           cfg.model.decode_head.num_classes, labeled,
                           generator).cuda()
    meta = dict(img_shape=(height, width), ori_shape=(height, width),
                pad_shape=(height, width))
    samples = []
    for i in range(batch):
        sample = SegDataSample(metainfo=meta)
        sample.gt_sem_seg = PixelData(data=labels[i])
        samples.append(sample)
    whole_scene = name == 'spectralmamba'

    def train_step():
        model.train()
        with torch.autocast('cuda', dtype=torch.bfloat16):
            losses = model.loss(inputs, samples)
            loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    def infer():
        model.eval()
        with torch.no_grad(), torch.autocast('cuda', dtype=torch.bfloat16):
            if whole_scene:
                model.encode_decode(inputs, [s.metainfo for s in samples])
            else:
                model(inputs, mode='tensor')

    unit, per_call = (('pixels', height * width) if whole_scene
                      else ('images', batch))
    num_params = sum(p.numel() for p in model.parameters())
    print(f'[{name}] {config}: batch {batch} x {channels} x {height} x '
          f'{width}, {num_params / 1e6:.3f}M parameters, '
          f'bf16 autocast, medians of {repeats} after one warm-up', flush=True)
    for label, fn in (('train step', train_step), ('inference', infer)):
        fn()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f'  {label:<11} {seconds * 1e3:9.1f} ms  '
              f'{per_call / seconds:12.1f} {unit}/s  '
              f'max_memory_allocated {peak:6.2f} GiB', flush=True)


def run_part(title: str, cmd: list, limit: int) -> bool:
    """Run one part in a subprocess, streaming its output; True on success."""
    print(f'\n===== {title} (limit {limit} s) =====', flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, timeout=limit)
        ok = proc.returncode == 0
        status = 'OK' if ok else f'FAILED (exit status {proc.returncode})'
    except subprocess.TimeoutExpired:
        ok, status = False, 'FAILED (time limit)'
    print(f'----- {title}: {status} in '
          f'{time.perf_counter() - start:.0f} s', flush=True)
    return ok


def main(argv=None) -> int:
    """Run the GPU check's parts (or, as a subprocess, one family).

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).

    Returns:
        int: The exit status: 0 when every part passed or there is no CUDA
        device, 1 otherwise.
    """
    args = parse_args(argv)
    import torch
    if args.family_child:
        family_child(args.family_child, args.repeats)
        return 0
    if not torch.cuda.is_available():
        print('no CUDA device: skipped')
        return 0
    print(f'GPU check on {torch.cuda.get_device_name()} '
          f'(torch {torch.__version__}, CUDA {torch.version.cuda})',
          flush=True)
    results = {}
    if not args.skip_tests:
        results['CUDA tests'] = run_part(
            'CUDA tests (pytest tests/test_ops -k cuda)',
            [sys.executable, '-m', 'pytest', '-q', '-rs', '-p',
             'no:cacheprovider', 'tests/test_ops', '-k', 'cuda'],
            TIME_LIMITS['tests'])
    if not args.skip_benchmark:
        results['scan benchmark'] = run_part(
            'selective scan benchmark (tools/benchmark_scan.py --device cuda)',
            [sys.executable, osp.join(REPO, 'tools', 'benchmark_scan.py'),
             '--device', 'cuda'], TIME_LIMITS['benchmark'])
    for name in args.families:
        results[name] = run_part(
            f'{name}: bf16 training step and inference',
            [sys.executable, osp.abspath(__file__), '--family-child', name,
             '--repeats', str(args.repeats)], TIME_LIMITS[name])
    print('\n===== summary =====')
    for title, ok in results.items():
        print(f'  {title:<16} {"OK" if ok else "FAILED"}')
    return 0 if all(results.values()) else 1


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    sys.exit(main())
