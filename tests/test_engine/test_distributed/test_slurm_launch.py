"""``--launcher slurm`` through ``tools/slurm_train.sh`` / ``slurm_test.sh``.

No cluster here: a stand-in ``srun`` on ``PATH`` does what srun does for the
tools, it starts the command once per task (``--ntasks``) with SLURM's
variables (``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NTASKS``,
``SLURM_NODELIST``) and fails if a task fails. mmengine's SLURM launcher
reads them; MASTER_ADDR and MASTER_PORT come from the environment.
"""
import os
import os.path as osp
import stat
import subprocess

import pytest
from distributed_runs import (
    REPO,
    assert_same_tensors,
    free_port,
    probe,
    run_env,
    write_tiny_config,
)

FAKE_SRUN = r'''#!/usr/bin/env bash
# srun stand-in: one process per task with SLURM's variables.
ntasks=1
while [ "$#" -gt 0 ]; do
    case "$1" in
        --ntasks=*) ntasks=${1#*=} ;;
        -p|--partition) shift ;;
        -*) ;;
        *) break ;;
    esac
    shift
done
echo "srun: $ntasks tasks: $*" >&2
pids=()
for ((i = 0; i < ntasks; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$ntasks \
        SLURM_NODELIST=localhost "$@" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
'''


def run_slurm_script(script, args, tmp_path, gpus=2):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = run_env()
    env.update(PATH=f'{bin_dir}{os.pathsep}{env["PATH"]}', GPUS=str(gpus),
               GPUS_PER_NODE=str(gpus), MASTER_ADDR='127.0.0.1',
               MASTER_PORT=str(free_port()))
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', script), 'partition', 'job', *args],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert f'srun: {gpus} tasks' in proc.stdout
    return proc


@pytest.mark.slow
def test_slurm_scripts_train_and_test_on_two_tasks(demo_data, tmp_path):
    config = write_tiny_config('spectralmamba', demo_data,
                               str(tmp_path / 'cfg.py'), max_iters=2)
    work_dir = str(tmp_path / 'work')
    run_slurm_script('slurm_train.sh', [config, '--work-dir', work_dir],
                     tmp_path)
    assert_same_tensors(probe(work_dir, 'weights', 0),
                        probe(work_dir, 'weights', 1))
    test_dir = str(tmp_path / 'test')
    run_slurm_script('slurm_test.sh', [
        config, osp.join(work_dir, 'iter_2.pth'), '--work-dir', test_dir
    ], tmp_path)
    assert probe(test_dir, 'test_metrics', 0) == \
        probe(work_dir, 'val_metrics', 0)


@pytest.mark.slow
def test_scripts_refuse_missing_arguments(tmp_path):
    for script, minimum in (('dist_train.sh', 2), ('dist_test.sh', 3),
                            ('dist_infer.sh', 3), ('slurm_train.sh', 3),
                            ('slurm_test.sh', 4)):
        proc = subprocess.run(
            ['bash', osp.join(REPO, 'tools', script)] + ['x'] * (minimum - 1),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.returncode == 2 and 'usage:' in proc.stdout, script
