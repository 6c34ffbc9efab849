#!/usr/bin/env bash
# Train on several GPUs (or CPU processes) of one or more machines, with
# MMSeg's interface:
#   bash tools/dist_train.sh CONFIG GPUS [train.py arguments]
# Several machines: run it on each with NNODES, NODE_RANK, MASTER_ADDR and
# PORT set (the same PORT and MASTER_ADDR everywhere). Without a GPU the
# processes use the gloo backend on the CPU.
set -euo pipefail
if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py arguments]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/torchrun_tool.sh" train.py "$2" "$1" "${@:3}"
