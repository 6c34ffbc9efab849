"""ThreadTuningHook keeps the thread count that trains faster right now."""
from types import SimpleNamespace

import pytest
import torch

from m3plugins.engine import ThreadTuningHook
from m3plugins.engine import thread_tuning_hook as tuning
from m3plugins.utils import thread_policy


class _Logger:

    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(message)


def _runner(deterministic=False):
    return SimpleNamespace(
        iter=0, logger=_Logger(), model=torch.nn.Linear(2, 2),
        _randomness_cfg=dict(seed=0, deterministic=deterministic))


@pytest.fixture
def two_cores(monkeypatch):
    for name in ('M3PLUGINS_THREADS', 'OMP_NUM_THREADS', 'LOCAL_WORLD_SIZE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(thread_policy, 'usable_cores', lambda: 2)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _train(hook, runner, iterations, seconds):
    """Run ``iterations`` with a clock that charges ``seconds[threads]``."""
    clock, used = [0.0], []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tuning, 'time',
                      SimpleNamespace(perf_counter=lambda: clock[0]))
        hook.before_train(runner)
        for iteration in range(iterations):
            runner.iter = iteration
            hook.before_train_iter(runner, iteration)
            used.append(torch.get_num_threads())
            clock[0] += seconds[used[-1]]
            hook.after_train_iter(runner, iteration)
    return used


@pytest.mark.parametrize('seconds, chosen', [
    ({2: 0.5, 1: 1.0}, 2),    # quiet: the share is faster
    ({2: 1.4, 1: 1.0}, 1),    # busy neighbours: one thread is faster
    ({2: 0.95, 1: 1.0}, 1),   # barely faster is not worth it
])
def test_the_faster_count_is_kept(two_cores, seconds, chosen):
    hook, runner = ThreadTuningHook(warmup_iters=2, trial_iters=3), _runner()
    _train(hook, runner, 2 + 3 * 2 + 4, seconds)
    assert torch.get_num_threads() == chosen
    assert len(runner.logger.lines) == 1
    assert f'm3plugins: {chosen} intra-op thread(s)' in runner.logger.lines[0]


def test_a_losing_share_is_given_up_after_one_iteration(two_cores):
    hook, runner = ThreadTuningHook(warmup_iters=2, trial_iters=3), _runner()
    used = _train(hook, runner, 2 + 3 + 3 + 4, {2: 2.5, 1: 1.0})
    assert torch.get_num_threads() == 1
    # Warm-up at the start's count, 3 trial iterations at 1 thread, one at 2.
    assert used[2:6] == [1, 1, 1, 2] and set(used[6:]) == {1}


def test_measured_again_after_the_interval(two_cores):
    hook = ThreadTuningHook(warmup_iters=1, trial_iters=2, interval=5)
    runner = _runner()
    _train(hook, runner, 1 + 4 + 5 + 4 + 1, {2: 0.5, 1: 1.0})
    assert len(runner.logger.lines) == 2


def test_deterministic_runs_and_set_counts_keep_their_threads(
        two_cores, monkeypatch):
    torch.set_num_threads(2)
    hook = ThreadTuningHook(warmup_iters=0, trial_iters=2)
    _train(hook, _runner(deterministic=True), 8, {2: 2.0, 1: 1.0})
    assert torch.get_num_threads() == 2 and hook.candidates == []
    monkeypatch.setenv('M3PLUGINS_THREADS', '2')
    _train(hook, _runner(), 8, {2: 2.0, 1: 1.0})
    assert torch.get_num_threads() == 2 and hook.candidates == []
