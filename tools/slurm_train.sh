#!/usr/bin/env bash
# Train on a SLURM cluster, with MMSeg's interface:
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py arguments]
# GPUS (total, default 4), GPUS_PER_NODE (default 4), CPUS_PER_TASK (default
# 5) and SRUN_ARGS (extra srun options) come from the environment. One task
# per GPU; each task reads its rank from SLURM (--launcher slurm).
set -euo pipefail
if [ "$#" -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG [train.py arguments]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/srun_tool.sh" "$1" "$2" train.py "${@:3}"
