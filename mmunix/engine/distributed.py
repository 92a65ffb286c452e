"""Process-group start-up and shut-down that work with and without GPUs."""
from contextlib import contextmanager
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import init_dist


def init_distributed(launcher: str, dist_cfg: Optional[dict] = None) -> None:
    """Start the process group for ``launcher`` before the Runner does.

    MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device``, which
    fails on a machine without GPUs. Here, without CUDA, the group is started
    with ``gloo`` from the ``torchrun`` environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``); the Runner then finds it initialised
    and skips its own start-up. With CUDA, MMEngine's own path runs unchanged.

    Args:
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        dist_cfg (dict, optional): ``env_cfg.dist_cfg``, as the Runner would
            pass it to ``mmengine.dist.init_dist`` (``backend``, ``timeout``
            in seconds, ``port`` for slurm...). Without CUDA only ``timeout``
            applies: the backend is gloo.
    """
    if launcher == 'none' or torch_dist.is_initialized():
        return
    dist_cfg = dict(dist_cfg or {})
    if torch.cuda.is_available():
        dist_cfg.setdefault('backend', 'nccl')
        init_dist(launcher, **dist_cfg)
    elif launcher == 'pytorch':
        timeout = dist_cfg.get('timeout')
        torch_dist.init_process_group(
            backend='gloo',
            timeout=None if timeout is None else timedelta(seconds=timeout))
    else:
        raise RuntimeError(
            f'--launcher {launcher} needs GPUs; on a CPU-only machine start '
            'the processes with torchrun (tools/dist_train.sh), which uses '
            '--launcher pytorch and the gloo backend.')


@contextmanager
def distributed_session(launcher: str, dist_cfg: Optional[dict] = None):
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
        dist_cfg (dict, optional): As for :func:`init_distributed`.
    """
    init_distributed(launcher, dist_cfg)
    yield
    if torch_dist.is_initialized():
        # Rank 0 writes the last checkpoint and logs alone; wait for it so no
        # rank leaves while another still talks to the group.
        torch_dist.barrier()
        torch_dist.destroy_process_group()
