"""Process-group start-up and shut-down that work with and without GPUs."""
from contextlib import contextmanager

import torch
import torch.distributed as torch_dist
from mmengine.dist import init_dist


def init_distributed(launcher: str, backend: str = 'nccl') -> None:
    """Start the process group for ``launcher`` before the Runner does.

    MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device``, which
    fails on a machine without GPUs. Here, without CUDA, the group is started
    with ``gloo`` from the ``torchrun`` environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``); the Runner then finds it initialised
    and skips its own start-up. With CUDA, MMEngine's own path runs unchanged.

    Args:
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        backend (str): Backend used when GPUs are present.
    """
    if launcher == 'none' or torch_dist.is_initialized():
        return
    if torch.cuda.is_available():
        init_dist(launcher, backend=backend)
    elif launcher == 'pytorch':
        torch_dist.init_process_group(backend='gloo')
    else:
        raise RuntimeError(
            f'--launcher {launcher} needs GPUs; on a CPU-only machine start '
            'the processes with torchrun (tools/dist_train.sh), which uses '
            '--launcher pytorch and the gloo backend.')


@contextmanager
def distributed_session(launcher: str, backend: str = 'nccl'):
    """Run the body inside a process group and destroy the group after it.

    MMEngine never destroys the group it starts. Left to interpreter
    shutdown, gloo's worker threads can still own tensors while Python is
    being torn down, and the process dies with ``terminate called without an
    active exception`` (SIGABRT) after the run has finished and saved
    everything; torchrun then reports the whole job as failed.

    The group is destroyed only after the body succeeds. After an exception,
    other ranks may still be inside a collective, and destroying the group
    could hang them instead of letting torchrun tear the job down.

    Args:
        launcher (str): As for :func:`init_distributed`.
        backend (str): As for :func:`init_distributed`.
    """
    init_distributed(launcher, backend)
    yield
    if torch_dist.is_initialized():
        # Rank 0 writes the last checkpoint and logs alone; wait for it so no
        # rank leaves while another still talks to the group.
        torch_dist.barrier()
        torch_dist.destroy_process_group()
