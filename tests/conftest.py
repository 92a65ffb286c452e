"""Shared fixtures: tiny CIFAR-format data and the command lines that train."""
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def write_cifar100(data_root: str, num_train: int = 16, num_test: int = 8,
                   seed: int = 0) -> str:
    """Write random images in the CIFAR-100 pickle format.

    The layout is ``<data_root>/cifar-100-python/{train,test,meta}``, each a
    pickled dict as in the official archive (``data`` uint8 ``(N, 3072)``,
    ``fine_labels``, ``coarse_labels``, ``filenames``). The md5 sums differ
    from the official ones, so loaders need ``check_md5=False``.
    """
    rng = np.random.default_rng(seed)
    folder = osp.join(data_root, 'cifar-100-python')
    os.makedirs(folder, exist_ok=True)
    for split, num in (('train', num_train), ('test', num_test)):
        entry = {
            'data': rng.integers(0, 256, (num, 3072), dtype=np.uint8),
            'fine_labels': [int(i % 100) for i in range(num)],
            'coarse_labels': [int(i % 20) for i in range(num)],
            'filenames': [f'{split}_{i}.png' for i in range(num)],
        }
        with open(osp.join(folder, split), 'wb') as f:
            pickle.dump(entry, f)
    with open(osp.join(folder, 'meta'), 'wb') as f:
        pickle.dump({'fine_label_names': [f'class_{i}' for i in range(100)]},
                    f)
    return data_root


@pytest.fixture(scope='session')
def cifar_root(tmp_path_factory) -> str:
    """A session-wide tiny CIFAR-100: 16 train and 8 test images."""
    return write_cifar100(str(tmp_path_factory.mktemp('cifar')))


@pytest.fixture(scope='session')
def teacher_ckpt(tmp_path_factory) -> str:
    """A randomly initialised resnet56 teacher in mmunix checkpoint format."""
    import torch
    from mmengine import Config

    from mmunix.registry import MODELS
    from mmunix.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/teachers/resnet56_cifar100.py'))
    path = str(tmp_path_factory.mktemp('teacher') / 'resnet56.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, path)
    return path


def tiny_run_options(data_root: str, batch_size: int = 4) -> list:
    """``--cfg-options`` that point a CIFAR-100 config at tiny local data."""
    options = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={data_root}',
            f'{loader}.dataset.check_md5=False',
            f'{loader}.batch_size={batch_size}',
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
        ]
    return options + ['default_hooks.logger.interval=1']


def run_tool(args: list, timeout: int = 300, env_extra: dict = None):
    """Run a command from the repository root; return the finished process.

    ``env_extra`` entries are added to the environment; a ``PYTHONPATH`` there
    is put in front of the repository root.
    """
    env_extra = dict(env_extra or {})
    python_path = os.pathsep.join(
        filter(None, [env_extra.pop('PYTHONPATH', None), REPO_ROOT]))
    env = dict(
        os.environ, PYTHONPATH=python_path, OMP_NUM_THREADS='1', **env_extra)
    return subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=timeout)


def assert_ok(result):
    assert result.returncode == 0, (
        f'command failed ({result.returncode}):\n{result.stdout[-3000:]}\n'
        f'{result.stderr[-6000:]}')


def free_port() -> int:
    """A TCP port that is free now, for a torchrun rendezvous."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


PYTHON = sys.executable
