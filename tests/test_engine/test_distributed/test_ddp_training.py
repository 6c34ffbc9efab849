"""Real 2-process DDP (gloo, CPU) on a tiny config of each family.

Each test trains a few iterations with ``tools/dist_train.sh CFG 2`` (torchrun,
``--launcher pytorch``) and validates at the end, then tests the saved
checkpoint with a single-process ``tools/test.py`` (and, for MoBaNet, with
``tools/dist_test.sh`` on two processes as well). The ranks must
end with identical weights (also the BatchNorm statistics: SyncBN on GPUs,
averaged buffers on the CPU), equal to the checkpoint, and the distributed
validation must equal the single-process test: the same metrics and the same
prediction for every sample.
"""
import os.path as osp

import pytest
import torch
from distributed_runs import (
    assert_same_tensors,
    probe,
    run_tool,
    write_tiny_config,
)


@pytest.mark.slow
@pytest.mark.parametrize('family', ['mobanet', 'spectralmamba', 'm3amba'])
def test_two_process_training_matches_single_process_test(
        family, demo_data, tmp_path):
    config = write_tiny_config(family, demo_data, str(tmp_path / 'cfg.py'))
    work_dir = str(tmp_path / 'work')
    run_tool('train', [config, '--work-dir', work_dir], cwd=str(tmp_path),
             nproc=2)

    rank0 = probe(work_dir, 'weights', 0)
    rank1 = probe(work_dir, 'weights', 1)
    assert_same_tensors(rank0, rank1)
    checkpoint = osp.join(work_dir, 'iter_4.pth')
    saved = torch.load(checkpoint, weights_only=True)['state_dict']
    assert_same_tensors(rank0, saved)
    if family == 'mobanet':  # SyncBN statistics moved and agree
        running = [k for k in saved if k.endswith('running_mean')]
        assert running and any(saved[k].abs().sum() > 0 for k in running)

    # The ranks share the validation (a one-scene set is padded: both ranks
    # predict the scene, the metric counts it once).
    val0 = probe(work_dir, 'val_predictions', 0)
    val1 = probe(work_dir, 'val_predictions', 1)
    assert val0 and val1
    assert probe(work_dir, 'val_metrics', 0) == \
        probe(work_dir, 'val_metrics', 1)

    test_dir = str(tmp_path / 'test')
    run_tool('test', [config, checkpoint, '--work-dir', test_dir],
             cwd=str(tmp_path))
    assert probe(test_dir, 'test_metrics') == \
        probe(work_dir, 'val_metrics', 0)
    single = probe(test_dir, 'test_predictions')
    assert_same_tensors({**val0, **val1}, single)

    if family == 'mobanet':
        dist_dir = str(tmp_path / 'dist_test')
        run_tool('test', [config, checkpoint, '--work-dir', dist_dir],
                 cwd=str(tmp_path), nproc=2)
        assert probe(dist_dir, 'test_metrics', 0) == \
            probe(test_dir, 'test_metrics')
        assert_same_tensors(
            {**probe(dist_dir, 'test_predictions', 0),
             **probe(dist_dir, 'test_predictions', 1)}, single)
