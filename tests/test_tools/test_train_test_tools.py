"""tools/train.py, --resume, tools/test.py and torchrun, end to end on CPU."""
import json
import os.path as osp

import pytest
from conftest import PYTHON, assert_ok, free_port, run_tool, tiny_run_options

from mmunix.engine import load_from_local_weights_only

TEACHER = 'configs/teachers/resnet56_cifar100.py'


def train(work_dir, cifar_root, *extra, max_epochs=1):
    return run_tool([
        PYTHON, 'tools/train.py', TEACHER, '--work-dir',
        str(work_dir), *extra, '--cfg-options', *tiny_run_options(cifar_root),
        f'train_cfg.max_epochs={max_epochs}'
    ])


def saved_iteration(path) -> int:
    return load_from_local_weights_only(str(path))['meta']['iter']


@pytest.mark.slow
def test_interrupted_training_resumes_from_the_saved_iteration(
        tmp_path, cifar_root):
    # 16 images at batch 4: 4 iterations an epoch. The first run stops after
    # epoch 1, as a killed run leaves its last checkpoint behind.
    assert_ok(train(tmp_path, cifar_root, max_epochs=1))
    assert saved_iteration(tmp_path / 'epoch_1.pth') == 4

    resumed = train(tmp_path, cifar_root, '--resume', max_epochs=2)
    assert_ok(resumed)
    assert 'resumed epoch: 1, iter: 4' in resumed.stdout + resumed.stderr
    assert 'Epoch(train) [1]' not in resumed.stdout + resumed.stderr
    assert saved_iteration(tmp_path / 'epoch_2.pth') == 8

    # An explicit path works as well, and the checkpoint evaluates.
    explicit = train(
        tmp_path / 'again',
        cifar_root,
        '--resume',
        str(tmp_path / 'epoch_1.pth'),
        max_epochs=2)
    assert_ok(explicit)
    assert 'resumed epoch: 1, iter: 4' in explicit.stdout + explicit.stderr

    metrics_file = tmp_path / 'metrics.json'
    tested = run_tool([
        PYTHON, 'tools/test.py', TEACHER,
        str(tmp_path / 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out',
        str(metrics_file), '--cfg-options', *tiny_run_options(cifar_root)
    ])
    assert_ok(tested)
    metrics = json.loads(metrics_file.read_text())
    assert 0 <= metrics['accuracy/top1'] <= 100


@pytest.mark.slow
def test_dist_train_runs_two_processes_on_cpu(tmp_path, cifar_root):
    result = run_tool([
        'bash', 'tools/dist_train.sh', TEACHER, '2', '--work-dir',
        str(tmp_path), '--cfg-options', *tiny_run_options(cifar_root),
        'train_cfg.max_epochs=1'
    ],
                      env_extra={'PORT': str(free_port())})
    assert_ok(result)
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log
    # Two ranks split 16 images: 2 iterations of batch 4 each.
    assert 'Epoch(train) [1][2/2]' in log
    assert saved_iteration(tmp_path / 'epoch_1.pth') == 2
    assert osp.isfile(tmp_path / 'epoch_1.pth')


@pytest.mark.slow
def test_amp_without_an_accelerator_fails_before_anything_is_written(tmp_path):
    import pytest
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    result = run_tool([
        PYTHON, 'tools/train.py', TEACHER, '--amp', '--work-dir',
        str(tmp_path / 'amp')
    ])
    assert result.returncode != 0
    assert '--amp needs an accelerator' in result.stderr
    assert not (tmp_path / 'amp').exists()


def test_slurm_scripts_build_the_srun_command(tmp_path):
    """A stand-in ``srun`` records what the scripts would submit."""
    import os
    import stat
    fake = tmp_path / 'bin' / 'srun'
    fake.parent.mkdir()
    fake.write_text('#!/usr/bin/env bash\necho "srun $*"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {
        'PATH': f'{fake.parent}{os.pathsep}{os.environ["PATH"]}',
        'GPUS': '16',
        'GPUS_PER_NODE': '8'
    }

    train = run_tool([
        'bash', 'tools/slurm_train.sh', 'gpu', 'job', TEACHER, 'work_dirs/x',
        '--amp'
    ],
                     env_extra=env)
    assert_ok(train)
    line = train.stdout.strip().splitlines()[-1]
    assert line.startswith('srun -p gpu --job-name=job --gres=gpu:8 '
                           '--ntasks=16 --ntasks-per-node=8')
    assert line.endswith(f'tools/train.py {TEACHER} --work-dir=work_dirs/x '
                         '--amp --launcher=slurm')

    test = run_tool([
        'bash', 'tools/slurm_test.sh', 'gpu', 'job', TEACHER, 'ckpt.pth',
        '--out', 'm.json'
    ],
                    env_extra=env)
    assert_ok(test)
    assert test.stdout.strip().splitlines()[-1].endswith(
        f'tools/test.py {TEACHER} ckpt.pth --out m.json --launcher=slurm')


@pytest.mark.slow
def test_dist_test_evaluates_with_two_processes(tmp_path, cifar_root):
    assert_ok(train(tmp_path, cifar_root, max_epochs=1))
    result = run_tool([
        'bash', 'tools/dist_test.sh', TEACHER,
        str(tmp_path / 'epoch_1.pth'), '2', '--work-dir',
        str(tmp_path / 'test'), '--out',
        str(tmp_path / 'm.json'), '--cfg-options',
        *tiny_run_options(cifar_root)
    ],
                      env_extra={'PORT': str(free_port())})
    assert_ok(result)
    assert 'accuracy/top1' in json.loads((tmp_path / 'm.json').read_text())


@pytest.mark.slow
def test_test_py_refuses_a_checkpoint_of_another_model(tmp_path, cifar_root,
                                                       teacher_ckpt):
    # A resnet56 checkpoint scored with the resnet110 config: MMEngine's
    # non-strict load_from would report random weights' accuracy.
    metrics_file = tmp_path / 'metrics.json'
    result = run_tool([
        PYTHON, 'tools/test.py', 'configs/teachers/resnet110_cifar100.py',
        teacher_ckpt, '--work-dir',
        str(tmp_path), '--out',
        str(metrics_file), '--cfg-options', *tiny_run_options(cifar_root)
    ])
    assert result.returncode != 0
    assert (f'checkpoint {teacher_ckpt} does not match the model of '
            'configs/teachers/resnet110_cifar100.py') in result.stderr
    assert 'backbone.layer1.9.conv1.weight' in result.stderr
    assert not metrics_file.exists()
