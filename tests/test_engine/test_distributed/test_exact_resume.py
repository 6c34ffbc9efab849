"""Exact resume: a run stopped at N/2 and resumed equals an uninterrupted one.

N iterations in one go equal a run stopped after N/2 and resumed with
``--resume``, bit for bit, with dropout on (fixed seed, deterministic mode),
on one process and on two.

The runs are stopped the hard ways, SIGKILL and SIGINT, right after the
checkpoint of iteration N/2 (and its validation) is written: ``--resume``
continues from that checkpoint. The SpectralMamba demo config trains with
dropout (decode head, 0.1) and random flips, so any random state that is not
restored shows in the weights.
"""
import os
import os.path as osp
import signal
import time

import pytest
import torch
from distributed_runs import (
    assert_same_tensors,
    run_tool,
    start_tool,
    write_tiny_config,
)

from m3plugins.engine.rng_state_checkpoint_hook import (
    META_KEY,
    capture_rng_state,
    restore_rng_state,
)

N = 4


def final_weights(work_dir):
    path = osp.join(work_dir, f'iter_{N}.pth')
    return torch.load(path, weights_only=True)['state_dict']


def train(config, work_dir, cwd, nproc=1, resume=False):
    args = [config, '--work-dir', work_dir] + (['--resume'] if resume else [])
    run_tool('train', args, cwd=cwd, nproc=nproc)


def stop_after_half(config, work_dir, cwd, nproc, sig):
    """Start the N-iteration run and stop it with ``sig`` at N/2.

    ``sig`` is sent once the run has written the checkpoint of iteration N/2
    and paused before the next iteration.
    """
    proc = start_tool('train', [config, '--work-dir', work_dir], cwd=cwd,
                      nproc=nproc, M3PLUGINS_TEST_PAUSE_AT_ITER=str(N // 2))
    paused = [osp.join(work_dir, 'probe', f'paused_rank{r}')
              for r in range(nproc)]
    deadline = time.time() + 240
    while not all(osp.exists(p) for p in paused):
        assert proc.poll() is None, 'the run ended before it paused'
        assert time.time() < deadline, 'the run never reached the pause'
        time.sleep(0.2)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
    assert not osp.exists(osp.join(work_dir, f'iter_{N}.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith(f'iter_{N // 2}.pth')


@pytest.fixture(scope='module')
def one_go(demo_data, tmp_path_factory):
    """Config and final weights of the uninterrupted runs, per world size."""
    root = tmp_path_factory.mktemp('one_go')
    config = write_tiny_config('spectralmamba', demo_data,
                               str(root / 'cfg.py'), max_iters=N,
                               checkpoint_interval=N // 2,
                               val_interval=N // 2)
    weights = {}
    for nproc in (1, 2):
        work_dir = str(root / f'work{nproc}')
        train(config, work_dir, str(root), nproc=nproc)
        weights[nproc] = final_weights(work_dir)
    return config, weights


@pytest.mark.slow
@pytest.mark.parametrize('nproc, sig', [(1, signal.SIGKILL),
                                        (1, signal.SIGINT),
                                        (2, signal.SIGKILL)])
def test_stopped_run_resumes_bit_for_bit(one_go, tmp_path, nproc, sig):
    config, weights = one_go
    work_dir = str(tmp_path / 'work')
    stop_after_half(config, work_dir, str(tmp_path), nproc, sig)
    checkpoint = torch.load(osp.join(work_dir, f'iter_{N // 2}.pth'),
                            weights_only=True)
    saved = checkpoint['meta'][META_KEY]
    assert saved['world_size'] == nproc and len(saved['ranks']) == nproc
    assert saved['iteration'] == N // 2

    train(config, work_dir, str(tmp_path), nproc=nproc, resume=True)
    assert_same_tensors(final_weights(work_dir), weights[nproc])


def test_rng_state_round_trip_restores_every_generator():
    import random

    import numpy as np
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    # Stored as builtins and tensors: loadable with weights_only=True.
    import io
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    restore_rng_state(loaded)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
