#!/usr/bin/env bash
# Test a checkpoint on several GPUs (or CPU processes), with MMSeg's
# interface:
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py arguments]
# NNODES, NODE_RANK, MASTER_ADDR and PORT as in dist_train.sh. The metrics
# equal those of a single-process tools/test.py run of the same checkpoint.
set -euo pipefail
if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py arguments]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/torchrun_tool.sh" test.py "$3" "$1" "$2" "${@:4}"
