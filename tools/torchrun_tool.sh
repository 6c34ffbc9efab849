#!/usr/bin/env bash
# Shared by dist_train.sh, dist_test.sh and dist_infer.sh: runs one of the
# package's tools on GPUS processes of this machine with torchrun
# (--launcher pytorch), several machines through MMSeg's variables NNODES,
# NODE_RANK, MASTER_ADDR and PORT; PYTHON names the interpreter (default:
# the first `python` on PATH):
#   bash tools/torchrun_tool.sh TOOL.py GPUS [tool arguments]
set -euo pipefail
TOOL=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS=$(dirname "$0")

PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$TOOLS/$TOOL" "${@:3}" --launcher pytorch
