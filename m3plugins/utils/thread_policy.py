"""How many intra-op threads a process should use, on any CPU machine.

PyTorch starts as many OpenMP threads as the machine has cores, whatever
share of them the process may use and whoever else is using them. On a
2-core machine with a load of 4-5 the SpectralMamba demo trained 9x slower
with torch's default than with one thread: every small op waits for
threads that have no core. :func:`choose_threads` picks the number from
what the process can really use:

1. an explicit request (``--threads N``), else ``M3PLUGINS_THREADS``, else
   ``OMP_NUM_THREADS`` (the usual environment variables win);
2. otherwise the cores the process may run on (its CPU affinity, capped by
   a cgroup CPU quota: :func:`usable_cores`), shared among the processes
   of this machine's job (distributed ranks: ``LOCAL_WORLD_SIZE``);
3. and, where that share is more than one thread, a measurement: a short
   probe of small ops (the kind these models run) with that many threads
   and with one (the median of 7 rounds each, about 0.2 s on a quiet
   machine). Where other programs keep the cores busy,
   more threads wait for each other at every op (the 9x above) and one
   thread wins; on a quiet machine the share wins. The load average is no
   guide: it lags by a minute and cannot tell how busy the other work is.

Data-loader workers run with one thread each (PyTorch's default in
workers), so they take no share. :func:`apply_thread_policy` sets it with
``torch.set_num_threads`` and says once what it chose and why. The tools
and :class:`~m3plugins.engine.M3PluginsRunner` apply it;
``tools/benchmark_threads.py`` measures it against torch's default and one
thread, with and without other busy processes.
"""
import math
import os
from dataclasses import dataclass

__all__ = ['ThreadChoice', 'usable_cores', 'core_share', 'set_threads',
           'choose_threads', 'apply_thread_policy', 'THREADS_VARIABLE']

#: Environment variable with the number of intra-op threads to use.
THREADS_VARIABLE = 'M3PLUGINS_THREADS'


@dataclass(frozen=True)
class ThreadChoice:
    """The number of threads and where it comes from.

    Attributes:
        threads: Intra-op threads for this process.
        reason: One line saying why (logged once).
    """

    threads: int
    reason: str


def _cgroup_cpu_limit() -> float | None:
    """CPUs a cgroup quota allows (v2 ``cpu.max``, v1 CFS), or None."""
    try:
        with open('/sys/fs/cgroup/cpu.max') as file:
            quota, period = file.read().split()[:2]
        if quota != 'max':
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') as file:
            quota = int(file.read())
        with open('/sys/fs/cgroup/cpu/cpu.cfs_period_us') as file:
            period = int(file.read())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def usable_cores() -> int:
    """Cores this process may run on: affinity, capped by a CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def _local_processes() -> int:
    for name in ('LOCAL_WORLD_SIZE', 'SLURM_NTASKS_PER_NODE'):
        value = os.environ.get(name, '')
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def _probe_seconds(threads: int, repeats: int = 7,
                   give_up_after: float | None = None) -> float:
    """Median time of a short probe of small ops with ``threads`` threads.

    The median, not the best: on shared cores the best run is the one
    where the scheduler happened to give every thread a core, which is
    exactly what a whole training run cannot count on.

    Args:
        threads: Intra-op threads to probe with.
        repeats: Rounds (the median is returned).
        give_up_after: Stop after the first round slower than this many
            seconds and return that round (the candidate has lost).

    Returns:
        float: Seconds per round.
    """
    import statistics
    import time

    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(16, 256, 64, generator=generator)
        weight = torch.randn(64, 64, generator=generator) / 8

        def work():
            y = x
            for _ in range(8):
                y = torch.tanh(y @ weight) * 0.5 + x
            return y

        work()  # the thread pool starts
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
            if give_up_after is not None and times[-1] > give_up_after:
                return times[-1]
        return statistics.median(times)
    finally:
        torch.set_num_threads(previous)


def set_threads(requested: int | None = None) -> ThreadChoice | None:
    """The count the user set: ``--threads``, else the environment.

    Args:
        requested: An explicit number (``--threads``), or None.

    Returns:
        ThreadChoice or None: The set count and where it was set; None
        when nothing sets one (the policy then decides).
    """
    if requested is not None and requested > 0:
        return ThreadChoice(requested, f'--threads {requested}')
    for name in (THREADS_VARIABLE, 'OMP_NUM_THREADS'):
        value = os.environ.get(name, '')
        if value.isdigit() and int(value) > 0:
            return ThreadChoice(int(value), f'{name}={value}')
    return None


def core_share(processes: int | None = None) -> int:
    """This process's share of the usable cores, at least 1.

    Args:
        processes: Processes of this job on the machine (None: from
            ``LOCAL_WORLD_SIZE``, else 1).

    Returns:
        int: ``usable_cores() // processes``, at least 1.
    """
    return max(1, usable_cores() // (processes or _local_processes()))


def choose_threads(requested: int | None = None,
                   processes: int | None = None,
                   measure: bool = True) -> ThreadChoice:
    """The intra-op threads this process should use.

    Args:
        requested: An explicit number (``--threads``); None to decide.
        processes: Processes of this job on the machine (None: from
            ``LOCAL_WORLD_SIZE``, else 1).
        measure: Probe whether the share beats one thread right now;
            False takes the share (for runs that must repeat bit for bit:
            the choice then depends on the machine only).

    Returns:
        ThreadChoice: The number and the reason.
    """
    fixed = set_threads(requested)
    if fixed is not None:
        return fixed
    cores = usable_cores()
    processes = processes or _local_processes()
    share = core_share(processes)
    reason = f'{cores} usable core(s), {processes} process(es) of this job'
    if share == 1 or not measure:
        return ThreadChoice(share, reason)
    single = _probe_seconds(1)
    shared = _probe_seconds(share, give_up_after=2 * single)
    # More threads only where they are clearly faster.
    threads = share if shared < 0.9 * single else 1
    return ThreadChoice(
        threads, f'{reason}; probe: {share} threads {shared * 1e3:.0f} ms, '
        f'1 thread {single * 1e3:.0f} ms')


def apply_thread_policy(requested: int | None = None,
                        processes: int | None = None,
                        measure: bool = True) -> ThreadChoice:
    """Choose the threads (:func:`choose_threads`) and set them in torch.

    Args:
        requested: An explicit number (``--threads``); None to decide.
        processes: Processes of this job on the machine.
        measure: As :func:`choose_threads`.

    Returns:
        ThreadChoice: What was set.
    """
    import torch
    choice = choose_threads(requested, processes, measure)
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return choice
