"""SpectralMamba demo training: the thread policy vs torch's default vs one.

Runs ``tools/train.py configs/spectralmamba/spectralmamba_demo.py`` (the
built-in demo scene, generated in a temporary folder; no download) in a
fresh process per setting, while N busy processes (pure-Python loops, one
core each) share the machine, and prints the wall time of each setting and
its ratio to the best of its row:

* ``policy``: the package's thread policy (m3plugins.utils.thread_policy:
  usable cores, shared among the job's processes, less the cores others
  keep busy);
* ``torch default``: as many threads as the machine has cores, which is
  what PyTorch starts with;
* ``1 thread``.

Example:
    python tools/benchmark_threads.py --busy 0 2 4 --iters 40
"""
import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'spectralmamba', 'spectralmamba_demo.py')


def parse_args(argv=None) -> argparse.Namespace:
    """The command line: busy-process counts, iterations, repeats."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--busy', type=int, nargs='+', default=[0, 2],
                        help='numbers of busy processes to run beside')
    parser.add_argument('--iters', type=int, default=40,
                        help='training iterations per run')
    parser.add_argument('--repeats', type=int, default=1,
                        help='runs per setting (the median is printed)')
    return parser.parse_args(argv)


def settings() -> dict[str, dict[str, str]]:
    """Setting name -> environment that selects its thread count."""
    cores = os.cpu_count() or 1
    return {
        'policy': {},
        'torch default': {'M3PLUGINS_THREADS': str(cores)},
        '1 thread': {'M3PLUGINS_THREADS': '1'},
    }


def train_seconds(workdir: str, iters: int, env_extra: dict) -> float:
    """Wall time of one training run of the demo config."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('OMP_NUM_THREADS', 'M3PLUGINS_THREADS')}
    env.update(env_extra, PYTHONWARNINGS='ignore')
    command = [
        sys.executable, osp.join(REPO, 'tools', 'train.py'), CONFIG,
        '--work-dir', osp.join(workdir, 'work'), '--cfg-options',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        f'param_scheduler.1.end={iters}'
    ]
    start = time.perf_counter()
    out = subprocess.run(command, cwd=workdir, env=env,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f'training failed:\n{out.stderr[-3000:]}')
    return seconds


def busy_processes(count: int) -> list[subprocess.Popen]:
    """Start ``count`` processes that each keep one core busy."""
    return [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
            for _ in range(count)]


def main(argv=None) -> None:
    """Time every setting beside every number of busy processes."""
    args = parse_args(argv)
    print(f'machine: {os.cpu_count()} cores; load before: '
          f'{os.getloadavg()[0]:.2f}; {args.iters} iterations per run, '
          f'median of {args.repeats}', flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        # Generate the demo scene once (not timed).
        train_seconds(workdir, 12, {'M3PLUGINS_THREADS': '1'})
        for busy in args.busy:
            others = busy_processes(busy)
            try:
                time.sleep(2 if busy else 0)
                times = {}
                for name, env in settings().items():
                    times[name] = statistics.median(
                        train_seconds(workdir, args.iters, env)
                        for _ in range(args.repeats))
            finally:
                for process in others:
                    process.kill()
                    process.wait()
            best = min(times.values())
            row = ', '.join(f'{name} {seconds:.1f} s ({seconds / best:.2f}x)'
                            for name, seconds in times.items())
            print(f'{busy} busy process(es): {row}; policy / best = '
                  f'{times["policy"] / best:.2f}', flush=True)


if __name__ == '__main__':
    main()
