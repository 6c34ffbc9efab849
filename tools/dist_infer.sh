#!/usr/bin/env bash
# Large-scene inference shared among several GPUs (or CPU processes); rank 0
# writes maps identical to a single-process run:
#   bash tools/dist_infer.sh CONFIG CHECKPOINT GPUS --modality NAME=PATH ... --out MAP.tif
#   bash tools/dist_infer.sh CONFIG CHECKPOINT GPUS --scenes scenes.csv
# NNODES, NODE_RANK, MASTER_ADDR and PORT as in dist_train.sh.
set -euo pipefail
if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [infer.py arguments]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/torchrun_tool.sh" infer.py "$3" "$1" "$2" "${@:4}"
