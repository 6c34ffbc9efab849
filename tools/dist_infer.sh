#!/usr/bin/env bash
# Large-scene inference with the tiles shared among several GPUs (or CPU
# processes); rank 0 writes maps identical to a single-process run:
#   bash tools/dist_infer.sh CONFIG CHECKPOINT GPUS --modality NAME=PATH ... --out MAP.tif
# NNODES, NODE_RANK, MASTER_ADDR and PORT as in dist_train.sh.
set -euo pipefail
if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [infer.py arguments]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS=$(dirname "$0")

PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$TOOLS/infer.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
