"""Pick the intra-op thread count from the training iterations themselves.

The thread policy (:mod:`m3plugins.utils.thread_policy`) chooses at start
from the cores and a short probe. A probe is not the model: on the
SpectralMamba demo a quiet 2-core machine probed 1.5x faster with two
threads while training ran no faster, and beside two busy processes two
threads trained 1.4x slower than one. :class:`ThreadTuningHook` measures
the real thing: after a few warm-up iterations it trains ``trial_iters``
iterations with each candidate (one thread first, then the process's share
of the cores, given up as soon as one of its iterations takes twice the
one-thread median), keeps the one with the lower median iteration time
(the larger count only when it is at least 10 % faster), and measures again
every ``interval`` iterations, since the machine's load changes.

Runs that must repeat bit for bit (``randomness.deterministic=True``) and
runs whose thread count is set (``--threads``, ``M3PLUGINS_THREADS``,
``OMP_NUM_THREADS``) keep their count: intra-op threads change how CPU
reductions are split. On a GPU the hook does nothing.
"""
import statistics
import time

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from m3plugins.utils.thread_policy import core_share, set_threads

__all__ = ['ThreadTuningHook']


@HOOKS.register_module()
class ThreadTuningHook(Hook):
    """Measure training iterations with each thread count; keep the faster.

    Args:
        warmup_iters: Iterations left alone at the start (caches, pools).
        trial_iters: Iterations timed per candidate.
        interval: Iterations between two measurements.
    """

    priority = 'VERY_LOW'

    def __init__(self, warmup_iters: int = 3, trial_iters: int = 5,
                 interval: int = 500) -> None:
        self.warmup_iters = warmup_iters
        self.trial_iters = trial_iters
        self.interval = interval
        self.candidates: list[int] = []
        self.times: dict[int, list[float]] = {}
        self._start = None
        self._trial_from = None

    def _enabled(self, runner) -> bool:
        randomness = getattr(runner, '_randomness_cfg', None) or {}
        on_gpu = any(p.is_cuda for p in runner.model.parameters())
        return not (randomness.get('deterministic') or on_gpu
                    or set_threads() is not None)

    def before_train(self, runner) -> None:
        """Decide the candidates, or switch the hook off for this run."""
        self.candidates = sorted({core_share(), 1}) \
            if self._enabled(runner) else []
        self._trial_from = self.warmup_iters

    def _candidate_at(self, iteration: int) -> int | None:
        """The candidate on trial at ``iteration``, or None."""
        if len(self.candidates) < 2 or iteration < self._trial_from:
            return None
        slot = (iteration - self._trial_from) // self.trial_iters
        return self.candidates[slot] if slot < len(self.candidates) \
            else None

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Set the candidate on trial and start the clock."""
        candidate = self._candidate_at(runner.iter)
        if candidate is not None:
            torch.set_num_threads(candidate)
            self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Record the trial; when it is decided, keep the faster count."""
        candidate = self._candidate_at(runner.iter)
        if candidate is None or self._start is None:
            return
        self.times.setdefault(candidate, []).append(
            time.perf_counter() - self._start)
        self._start = None
        one, many = self.candidates[0], self.candidates[-1]
        last = self._trial_from + self.trial_iters * len(self.candidates) - 1
        lost = candidate == many and self.times[many][-1] > 2 * \
            statistics.median(self.times[one])
        if runner.iter != last and not lost:
            return
        medians = {c: statistics.median(t) for c, t in self.times.items()}
        chosen = many if not lost and medians[many] < 0.9 * medians[one] \
            else one
        torch.set_num_threads(chosen)
        runner.logger.info(
            f'm3plugins: {chosen} intra-op thread(s) from the training '
            f'iterations ({many} threads {medians[many] * 1e3:.0f} ms, 1 '
            f'thread {medians[one] * 1e3:.0f} ms per iteration); measured '
            f'again in {self.interval} iterations')
        self.times = {}
        self._trial_from = runner.iter + 1 + self.interval
