#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC_PER_NODE [test.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# Without GPUs the processes run on the CPU with the gloo backend.
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
exec "$(dirname "$0")/dist_launch.sh" test.py "$NPROC" "$CONFIG" \
    "$CHECKPOINT" "${@:4}"
