"""M3amba training-step and inference speed (medians), against a baseline.

Measures, for a config's model (random weights; ``pretrained`` entries are
dropped, so nothing is downloaded) on a random channel-stacked batch of the
config's crop size:

* **train step**: ``model.train_step`` (forward, the three-head loss,
  backward, the config's optimizer step through mmengine's OptimWrapper);
* **inference**: ``model(inputs)`` in eval mode under ``torch.no_grad``
  (fused-head logits, what whole inference runs per crop).

Each is timed ``--repeats`` times after ``--warmup`` untimed runs; medians
are printed. The same model with the baseline scan backend
(``--baseline-backend``, default ``'reference'``: the readable sequential
selective scan with autograd, mamba-ssm's reference semantics) is timed in
the same run and the ratio baseline / ours is printed. ``--baseline-backend
none`` skips it.

On CPU the small config (``configs/m3amba/m3amba_demo.py``) is measured.
When CUDA is available the default config
(``configs/m3amba/m3amba_houston2013.py``, the paper's 70.8M-parameter
model) is measured on the GPU as well (``--cuda-config``; ``--no-cuda`` to
skip); ``'auto'`` then uses mamba-ssm's kernel where it imports.

Examples:
    python tools/benchmark_m3amba.py
    python tools/benchmark_m3amba.py --repeats 10 --threads 2
    python tools/benchmark_m3amba.py --baseline-backend none --no-cuda
"""
import argparse
import os.path as osp
import statistics
import sys
import time
from collections.abc import Callable

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CPU_CONFIG = 'configs/m3amba/m3amba_demo.py'
CUDA_CONFIG = 'configs/m3amba/m3amba_houston2013.py'


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line of the M3amba benchmark.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: The CPU and CUDA configs, batch size, repeats,
        warm-up, threads and the measured and baseline scan backends.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=CPU_CONFIG,
                        help='config measured on CPU (default: the demo)')
    parser.add_argument('--cuda-config', default=CUDA_CONFIG,
                        help='config measured on CUDA when available')
    parser.add_argument('--no-cuda', action='store_true',
                        help='skip the CUDA measurement')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='default: the config\'s train batch size')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads on CPU')
    parser.add_argument('--baseline-backend', default='reference',
                        choices=['reference', 'torch', 'triton', 'none'],
                        help='scan backend of the baseline model')
    parser.add_argument('--backend', default='auto',
                        choices=['auto', 'torch', 'reference', 'mamba_ssm',
                                 'triton'],
                        help='scan backend of the measured model')
    return parser.parse_args(argv)


def load_config(path: str):
    """Load a config; a relative path is taken from the repository root.

    Args:
        path: The config path.

    Returns:
        mmengine.config.Config: The loaded config.
    """
    from mmengine.config import Config
    return Config.fromfile(path if osp.isabs(path) else osp.join(REPO, path))


def build_model(cfg, backend: str, device: torch.device):
    """Build the config's model with a scan backend and random weights.

    Args:
        cfg: The config; pretrained-weight sources are removed.
        backend: The neck's ``scan_backend``.
        device: Where the model goes.

    Returns:
        torch.nn.Module: The initialised segmentor (seed 0) on ``device``.
    """
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from m3plugins.utils.offline_configs import without_pretrained_weights
    init_default_scope('mmseg')
    model_cfg = without_pretrained_weights(cfg.model.to_dict())
    model_cfg['neck']['scan_backend'] = backend
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(device)


def random_batch(cfg, batch_size: int, device: torch.device):
    """(B, sum C, H, W) inputs in [0, 1] and sparse labels (10 % labeled)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from m3plugins.models.layout import config_modality_channels
    channels = sum(config_modality_channels(cfg.model).values())
    height, width = cfg.model.backbone.crop_size
    num_classes = cfg.model.decode_head.num_classes
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.rand(channels, height, width,
                                 generator=generator).to(device))
        labels = torch.randint(0, num_classes, (1, height, width),
                               generator=generator)
        labels[torch.rand(labels.shape, generator=generator) > 0.1] = 255
        sample = SegDataSample(metainfo=dict(
            img_shape=(height, width), ori_shape=(height, width),
            pad_shape=(height, width)))
        sample.gt_sem_seg = PixelData(data=labels.to(device))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _seconds(fn: Callable[[], None], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def prepare(cfg, backend: str, device: torch.device,
            batch_size: int) -> dict[str, Callable[[], None]]:
    """The two measured calls of one model: a train step and inference."""
    from mmengine.optim import build_optim_wrapper
    model = build_model(cfg, backend, device)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    data = random_batch(cfg, batch_size, device)
    stacked = model.data_preprocessor(data, False)['inputs']

    def train_step():
        model.train()
        model.train_step(data, optim_wrapper)

    def infer():
        model.eval()
        with torch.no_grad():
            model(stacked, mode='tensor')

    return dict(train=train_step, infer=infer)


def measure(cfg, backends: list[str], device: torch.device,
            batch_size: int, repeats: int,
            warmup: int) -> dict[str, dict[str, float]]:
    """Median seconds per backend and call.

    The backends' runs are interleaved (ours, baseline, ours, ...) so that a
    change of machine load during the run affects both alike.
    """
    calls = {b: prepare(cfg, b, device, batch_size) for b in backends}
    times = {b: {name: [] for name in ('train', 'infer')} for b in backends}
    for name in ('train', 'infer'):
        for backend in backends:
            for _ in range(warmup):
                calls[backend][name]()
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(repeats):
            for backend in backends:
                times[backend][name].append(
                    _seconds(calls[backend][name], device))
    result = {
        b: {name: statistics.median(values)
            for name, values in per_call.items()}
        for b, per_call in times.items()
    }
    if device.type == 'cuda':
        result['peak_mem_gib'] = torch.cuda.max_memory_allocated(device) / \
            2**30
    return result


def report(title: str, cfg_path: str, device: torch.device, batch: int,
           ours: dict[str, float], baseline: dict[str, float] | None,
           backend: str, baseline_backend: str,
           peak_mem_gib: float | None = None) -> None:
    """Print the median times of one measurement as a small table.

    Args:
        title: Heading of the table.
        cfg_path: The measured config.
        device: The measured device.
        batch: The batch size.
        ours: Median seconds of ``'train'`` and ``'infer'`` with the
            measured backend.
        baseline: The same for the baseline backend, or None.
        backend: Name of the measured backend.
        baseline_backend: Name of the baseline backend.
        peak_mem_gib: Peak CUDA memory (GiB), if measured.
    """
    print(f'\n== {title}: {cfg_path} on {device} (batch {batch}) ==')
    print(f'{"":24}{"train step":>14}{"inference":>14}')
    print(f'{"scan " + backend:24}{ours["train"] * 1e3:>11.1f} ms'
          f'{ours["infer"] * 1e3:>11.1f} ms')
    if baseline is not None:
        print(f'{"baseline " + baseline_backend:24}'
              f'{baseline["train"] * 1e3:>11.1f} ms'
              f'{baseline["infer"] * 1e3:>11.1f} ms')
        print(f'{"ratio baseline / ours":24}'
              f'{baseline["train"] / ours["train"]:>13.2f}x'
              f'{baseline["infer"] / ours["infer"]:>13.2f}x')
    if peak_mem_gib is not None:
        print(f'peak CUDA memory (all models, inference): '
              f'{peak_mem_gib:.2f} GiB')


def run(cfg_path: str, device: torch.device, args) -> None:
    """Measure one config on one device and print the table.

    Args:
        cfg_path: The config.
        device: The device to measure on.
        args: The parsed command line.
    """
    cfg = load_config(cfg_path)
    batch = args.batch_size or cfg.train_dataloader.batch_size
    backends = [args.backend]
    if args.baseline_backend not in ('none', args.backend):
        backends.append(args.baseline_backend)
    result = measure(cfg, backends, device, batch, args.repeats, args.warmup)
    baseline = result[args.baseline_backend] if len(backends) > 1 else None
    report(f'median of {args.repeats}', cfg_path, device, batch,
           result[args.backend], baseline, args.backend,
           args.baseline_backend, result.get('peak_mem_gib'))


def main(argv=None) -> int:
    """Measure on CPU and, when available, on CUDA.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).

    Returns:
        int: The exit status, 0.
    """
    args = parse_args(argv)
    from mmengine.logging import MMLogger

    import m3plugins  # noqa: F401  (stack fixes + registration)

    # Quiet mmengine's per-parameter init_weights report.
    MMLogger.get_instance('benchmark_m3amba', log_level='WARNING')
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} CPU '
          f'threads, CUDA available: {torch.cuda.is_available()}')
    run(args.config, torch.device('cpu'), args)
    if torch.cuda.is_available() and not args.no_cuda:
        run(args.cuda_config, torch.device('cuda'), args)
    elif not args.no_cuda:
        print('\nCUDA not available: the default-config GPU measurement '
              'was skipped.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
