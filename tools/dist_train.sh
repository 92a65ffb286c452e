#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NPROC_PER_NODE [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# Without GPUs the processes train on the CPU with the gloo backend.
CONFIG=$1
NPROC=$2
exec "$(dirname "$0")/dist_launch.sh" train.py "$NPROC" "$CONFIG" "${@:3}"
