"""Training throughput on 1 and on N processes (DDP), and on one GPU.

Trains a demo config (built-in data, generated into a temporary folder) with
``tools/train.py`` for a few iterations, once on one process and once under
``torchrun --nproc_per_node=N --launcher pytorch`` (gloo on the CPU, NCCL on
GPUs), reads the per-iteration times mmengine logs, and prints iterations
and samples per second, and the ratio. Each process trains the config's
batch, so N processes train N times the samples per iteration.

On the CPU the processes share the machine's cores: each one gets
``cores / N`` threads (``--threads``), so the comparison is one process with
every core against N processes splitting them. With ``--device cuda`` the
single-process run uses one GPU (and the N-process run N GPUs, if present).

Examples:
    python tools/benchmark_ddp.py                      # spectralmamba demo
    python tools/benchmark_ddp.py --family mobanet --iters 20
    python tools/benchmark_ddp.py --device cuda --nproc 1
"""
import argparse
import glob
import json
import os
import os.path as osp
import socket
import statistics
import subprocess
import sys
import tempfile

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: family -> (demo config, demo data set)
FAMILIES = {
    'spectralmamba': ('configs/spectralmamba/spectralmamba_demo.py',
                      'houston2013'),
    'm3amba': ('configs/m3amba/m3amba_demo.py', 'houston2013'),
    'mobanet': ('configs/mobanet/mobanet_demo.py', 'potsdam'),
}


def parse_args() -> argparse.Namespace:
    """Parse the command line of the DDP benchmark.

    Returns:
        argparse.Namespace: The family, process count, iterations, warm-up,
        threads per process and device.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--family', choices=list(FAMILIES),
                        default='spectralmamba')
    parser.add_argument('--nproc', type=int, default=2,
                        help='processes of the distributed run')
    parser.add_argument('--iters', type=int, default=12,
                        help='training iterations per run')
    parser.add_argument('--warmup', type=int, default=2,
                        help='iterations left out of the median')
    parser.add_argument('--threads', type=int, default=None,
                        help='threads per process (CPU); default '
                        'cores / processes')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    return parser.parse_args()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def iteration_times(work_dir: str) -> list:
    """Per-iteration wall times mmengine logged (``vis_data/scalars.json``)."""
    times = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data',
                                   'scalars.json')):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'time' in record and 'loss' in record:
                    times.append((record['iter'], record['time']))
    return [t for _, t in sorted(times)]


def train(config: str, nproc: int, iters: int, threads: int, device: str,
          cwd: str) -> list:
    """Train ``iters`` iterations on ``nproc`` processes.

    Args:
        config: Path of the demo config.
        nproc: Number of processes (1: a plain ``tools/train.py`` run).
        iters: Training iterations.
        threads: ``OMP_NUM_THREADS`` of each process.
        device: ``'cpu'`` (CUDA hidden) or ``'cuda'``.
        cwd: Working folder; the work dir is ``work_<nproc>`` inside it.

    Returns:
        list: The logged iteration times (s), in iteration order.
    """
    work_dir = osp.join(cwd, f'work_{nproc}')
    options = [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters + 1}',
        'default_hooks.logger.interval=1',
        f'default_hooks.checkpoint.interval={iters + 1}',
        'default_hooks.checkpoint.save_last=False', 'log_level=WARNING'
    ]
    script = osp.join(REPO, 'tools', 'train.py')
    command = [script, config, '--work-dir', work_dir, '--cfg-options',
               *options]
    if nproc > 1:
        command = ['-m', 'torch.distributed.run',
                   f'--nproc_per_node={nproc}',
                   f'--master_port={_free_port()}', *command,
                   '--launcher', 'pytorch']
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               OMP_WAIT_POLICY='PASSIVE')
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    proc = subprocess.run([sys.executable, *command], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f'training on {nproc} process(es) failed:\n'
                 f'{proc.stdout[-4000:]}')
    return iteration_times(work_dir)


def main() -> None:
    """Train on 1 and N processes and print the throughput of each."""
    args = parse_args()
    import m3plugins  # noqa: F401
    from m3plugins.demo import prepare_demo_data
    config, data = FAMILIES[args.family]
    config = osp.join(REPO, config)
    from mmengine.config import Config
    batch = Config.fromfile(config).train_dataloader.batch_size
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            sys.exit('--device cuda: no CUDA device here.')
        gpus = torch.cuda.device_count()
        print(f'GPU: {torch.cuda.get_device_name(0)} ({gpus} visible)')
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        prepare_demo_data(data, osp.join(tmp, 'data', 'm3plugins_demo'))
        runs = {}
        counts = [1] + ([args.nproc] if args.nproc > 1 else [])
        if args.device == 'cuda' and args.nproc > gpus:
            counts = [1]
            print(f'only {gpus} GPU(s): the {args.nproc}-process run is '
                  'skipped')
        for nproc in counts:
            threads = args.threads or max(1, cores // nproc)
            times = train(config, nproc, args.iters, threads, args.device,
                          tmp)[args.warmup:]
            if not times:
                sys.exit('no iteration times were logged')
            median = statistics.median(times)
            runs[nproc] = median
            print(f'{args.family} ({args.device}), {nproc} process(es) x '
                  f'{threads} thread(s), batch {batch} each: '
                  f'{1 / median:.2f} it/s, {nproc * batch / median:.1f} '
                  f'samples/s (median of {len(times)} iterations)')
    if len(runs) == 2:
        one, many = runs[1], runs[args.nproc]
        speedup = (args.nproc / many) / (1 / one)
        print(f'{args.nproc} processes vs 1: {speedup:.2f}x the samples per '
              f'second ({one / many:.2f}x the iterations per second); '
              f'ideal {args.nproc}x on {args.nproc} devices')
    print(f'load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} '
          f'{os.getloadavg()[2]:.2f} (1/5/15 min), {cores} cores')


if __name__ == '__main__':
    main()
