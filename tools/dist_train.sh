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
CONFIG=$1
GPUS=$2
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
    "$TOOLS/train.py" "$CONFIG" --launcher pytorch "${@:3}"
