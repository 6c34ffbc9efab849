#!/usr/bin/env bash
# Shared by slurm_train.sh and slurm_test.sh: runs one of the package's tools
# as one SLURM task per GPU (--launcher slurm):
#   bash tools/srun_tool.sh PARTITION JOB_NAME TOOL.py [tool arguments]
# GPUS (total, default 4), GPUS_PER_NODE (default 4), CPUS_PER_TASK (default
# 5), SRUN_ARGS (extra srun options) and PYTHON (the interpreter, default
# the first `python` on PATH) come from the environment.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
TOOL=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
TOOLS=$(dirname "$0")

# shellcheck disable=SC2086  # SRUN_ARGS holds several options
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "${PYTHON:-python}" -u "$TOOLS/$TOOL" "${@:4}" --launcher slurm
