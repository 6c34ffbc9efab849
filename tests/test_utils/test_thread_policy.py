"""The thread policy: the cores a process may use, shared, probed."""
import pytest

from m3plugins.utils import thread_policy
from m3plugins.utils.thread_policy import (
    THREADS_VARIABLE,
    apply_thread_policy,
    choose_threads,
)


@pytest.fixture
def four_cores(monkeypatch):
    for name in (THREADS_VARIABLE, 'OMP_NUM_THREADS', 'LOCAL_WORLD_SIZE',
                 'SLURM_NTASKS_PER_NODE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(thread_policy, 'usable_cores', lambda: 4)


def _probe(times):
    """A probe that reports ``times[threads]`` seconds."""
    return lambda threads, repeats=7, give_up_after=None: times[threads]


def test_quiet_machine_uses_every_usable_core(four_cores, monkeypatch):
    monkeypatch.setattr(thread_policy, '_probe_seconds',
                        _probe({4: 0.010, 1: 0.030}))
    choice = choose_threads()
    assert choice.threads == 4
    assert '4 usable core(s), 1 process(es)' in choice.reason
    assert 'probe: 4 threads 10 ms, 1 thread 30 ms' in choice.reason


def test_busy_cores_give_one_thread(four_cores, monkeypatch):
    # Other programs on the cores: the threads wait for each other.
    monkeypatch.setattr(thread_policy, '_probe_seconds',
                        _probe({4: 0.080, 1: 0.020}))
    assert choose_threads().threads == 1
    # Barely faster is not worth the risk of waiting.
    monkeypatch.setattr(thread_policy, '_probe_seconds',
                        _probe({4: 0.019, 1: 0.020}))
    assert choose_threads().threads == 1


def test_ranks_share_the_cores(four_cores, monkeypatch):
    monkeypatch.setattr(thread_policy, '_probe_seconds',
                        _probe({2: 0.010, 1: 0.030}))
    assert choose_threads(processes=2).threads == 2
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '4')
    assert choose_threads().threads == 1  # nothing left to probe
    assert choose_threads(processes=2, measure=False).threads == 2


def test_explicit_requests_and_environment_win(four_cores, monkeypatch):
    assert choose_threads(3).threads == 3
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert choose_threads() == thread_policy.ThreadChoice(
        2, 'OMP_NUM_THREADS=2')
    monkeypatch.setenv(THREADS_VARIABLE, '1')
    assert choose_threads().reason == f'{THREADS_VARIABLE}=1'


def test_the_choice_is_set_in_torch(four_cores, monkeypatch):
    import torch
    before = torch.get_num_threads()
    try:
        assert apply_thread_policy(1).threads == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_cgroup_quota_caps_the_affinity(monkeypatch):
    monkeypatch.setattr(thread_policy.os, 'sched_getaffinity',
                        lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(thread_policy, '_cgroup_cpu_limit', lambda: 1.5)
    assert thread_policy.usable_cores() == 2
    monkeypatch.setattr(thread_policy, '_cgroup_cpu_limit', lambda: None)
    assert thread_policy.usable_cores() == 8
