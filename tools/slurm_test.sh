#!/usr/bin/env bash
# Test a checkpoint on a SLURM cluster, with MMSeg's interface:
#   GPUS=4 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments]
# GPUS, GPUS_PER_NODE, CPUS_PER_TASK and SRUN_ARGS as in slurm_train.sh.
set -euo pipefail
if [ "$#" -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/srun_tool.sh" "$1" "$2" test.py "${@:3}"
