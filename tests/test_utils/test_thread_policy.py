"""The thread policy: the cores a process may use, shared, less the busy."""
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


def test_quiet_machine_uses_every_usable_core(four_cores):
    choice = choose_threads(load=0.0)
    assert choice.threads == 4
    assert '4 usable core(s), 1 process(es)' in choice.reason


def test_ranks_share_the_cores(four_cores, monkeypatch):
    assert choose_threads(processes=2, load=0.0).threads == 2
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '4')
    assert choose_threads(load=0.0).threads == 1


def test_cores_busy_elsewhere_are_left_alone(four_cores):
    # Load 3 on 4 cores, this process among the runnable: 2 are free.
    assert choose_threads(load=3.0).threads == 2
    # Oversubscribed: never fewer than one thread.
    assert choose_threads(load=9.0).threads == 1


def test_explicit_requests_and_environment_win(four_cores, monkeypatch):
    assert choose_threads(3, load=9.0).threads == 3
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert choose_threads(load=0.0) == thread_policy.ThreadChoice(
        2, 'OMP_NUM_THREADS=2')
    monkeypatch.setenv(THREADS_VARIABLE, '1')
    assert choose_threads(load=0.0).reason == f'{THREADS_VARIABLE}=1'


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
