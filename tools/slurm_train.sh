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
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
TOOLS=$(dirname "$0")

# shellcheck disable=SC2086  # SRUN_ARGS holds several options
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    python -u "$TOOLS/train.py" "$CONFIG" --launcher slurm "${@:4}"
