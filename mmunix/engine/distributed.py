"""Process-group start-up that works with and without GPUs."""
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
