#!/usr/bin/env bash
# Usage: tools/dist_launch.sh SCRIPT NPROC_PER_NODE [SCRIPT args...]
# Runs tools/SCRIPT in NPROC_PER_NODE processes per node with torchrun, for
# dist_train.sh and dist_test.sh. Multi-node: set NNODES, NODE_RANK,
# MASTER_ADDR and PORT on every node. Without GPUs the processes run on the
# CPU with the gloo backend.
set -e
SCRIPT=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec torchrun \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$(dirname "$0")/$SCRIPT" \
    "${@:3}" \
    --launcher pytorch
