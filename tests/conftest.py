"""Shared fixtures: tiny CIFAR-format data and the command lines that train."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

from mmunix.datasets.synthetic_cifar import write_synthetic_cifar100

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def cifar_root(tmp_path_factory) -> str:
    """A session-wide tiny CIFAR-100: 16 train and 8 test images."""
    return write_synthetic_cifar100(str(tmp_path_factory.mktemp('cifar')))


#: Images per split of the ``imagenet_root`` fixture.
IMAGENET_NUM_TRAIN, IMAGENET_NUM_VAL = 8, 4


@pytest.fixture(scope='session')
def imagenet_root(tmp_path_factory) -> str:
    """Tiny ImageNet in mmpretrain's layout: ``{train,val}/*.jpg`` (64x48
    random pixels) and ``meta/{train,val}.txt`` with lines ``file label`` (3
    classes)."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp('imagenet')
    rng = np.random.default_rng(0)
    os.makedirs(root / 'meta')
    for split, num in (('train', IMAGENET_NUM_TRAIN), ('val',
                                                       IMAGENET_NUM_VAL)):
        os.makedirs(root / split)
        lines = []
        for i in range(num):
            pixels = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / split / f'{split}_{i}.jpg')
            lines.append(f'{split}_{i}.jpg {i % 3}\n')
        (root / 'meta' / f'{split}.txt').write_text(''.join(lines))
    return str(root)


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


def tiny_run_settings(data_root: str, batch_size: int = 4) -> dict:
    """Config keys that point a CIFAR-100 config at tiny local data."""
    settings = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        settings.update({
            f'{loader}.dataset.data_root': data_root,
            f'{loader}.dataset.check_md5': False,
            f'{loader}.batch_size': batch_size,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    settings['default_hooks.logger.interval'] = 1
    return settings


def tiny_run_options(data_root: str, batch_size: int = 4) -> list:
    """``--cfg-options`` that point a CIFAR-100 config at tiny local data."""
    return [
        f'{key}={value}'
        for key, value in tiny_run_settings(data_root, batch_size).items()
    ]


def tiny_validation_settings(data_root: str, topk=(1, )) -> dict:
    """Config keys that validate on the tiny test split after each epoch."""
    return {
        'val_cfg':
        dict(),
        'val_dataloader':
        dict(
            batch_size=4,
            num_workers=0,
            dataset=dict(
                type='CIFAR100',
                data_root=data_root,
                split='test',
                check_md5=False,
                pipeline=[dict(type='PackInputs')]),
            sampler=dict(type='DefaultSampler', shuffle=False)),
        'val_evaluator':
        dict(type='Accuracy', topk=topk),
    }


def tiny_config(config: str, work_dir: str, data_root: str, **settings):
    """A repository config on tiny local data for an in-process Runner, with
    ``settings`` (``key.path=value``) merged last."""
    from mmengine import Config

    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    cfg.merge_from_dict(tiny_run_settings(data_root))
    cfg.merge_from_dict(settings)
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    return cfg


def train_in_process(config: str,
                     work_dir,
                     data_root: str,
                     hooks=(),
                     **settings):
    """Train a repository config with an in-process Runner: one epoch of the 16
    tiny images in batches of 2, no validation and no checkpoints, seed 0;
    ``settings`` and then ``hooks`` are added. Distillation configs get a
    random teacher unless ``settings`` names ``model.teacher_ckpt``; student
    and teacher configs train as they are.

    Returns:
        Runner: the trained runner.
    """
    from mmunix.utils import register_all_modules
    from mmunix.utils.runner_args import build_runner
    register_all_modules()
    cfg = tiny_config(
        config, work_dir, data_root, **{
            'train_cfg.max_epochs': 1,
            'train_dataloader.batch_size': 2,
            'val_cfg': None,
            'val_dataloader': None,
            'val_evaluator': None,
            'default_hooks.checkpoint': None,
            'randomness.seed': 0,
            **settings
        })
    if 'teacher_ckpt' in cfg.model and 'model.teacher_ckpt' not in settings:
        cfg.model.teacher_ckpt = None
    # Runners of one second would share their logger and visualizer.
    cfg.experiment_name = '_'.join(str(work_dir).split(os.sep)[-2:])
    runner = build_runner(cfg)
    for hook in hooks:
        runner.register_hook(hook)
    runner.train()
    return runner


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
        args,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)


#: What the tools append to the one-line refusal of a user error.
DEBUG_HINT = ' (--debug shows the traceback)'


def run_script_in_process(monkeypatch, script: str, *args):
    """Run ``script`` as ``__main__`` with ``args`` in this process (a fresh
    one would spend seconds on imports).

    Returns:
        str | None: None if it succeeded, else the message it exited with,
        without the :data:`DEBUG_HINT` that every refusal ends with.
    """
    import runpy

    monkeypatch.setattr('sys.argv', [script, *map(str, args)])
    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit as exit_info:
        message = str(exit_info.code)
        assert message.endswith(DEBUG_HINT), message
        return message[:-len(DEBUG_HINT)]
    return None


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
