#!/usr/bin/env bash
# Usage: tools/slurm_launch.sh PARTITION JOB_NAME SCRIPT [SCRIPT args...]
# Runs tools/SCRIPT as a Slurm job, for slurm_train.sh and slurm_test.sh.
# GPUS (total), GPUS_PER_NODE, CPUS_PER_TASK and SRUN_ARGS tune the job.
set -x
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    python -u "$(dirname "$0")/$SCRIPT" "${@:4}" --launcher=slurm
