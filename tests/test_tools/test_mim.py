"""OpenMMLab's mim (openmim, in the tests extra) trains, tests and lists
mmunix's configs from the files of ``mmunix/.mim`` (docs/mim.md).

mim locates mmunix through ``pkg_resources``. For an editable install that
needs the repository first on the Python path, where ``pip install -e .``
leaves ``mmunix.egg-info``; :func:`conftest.run_tool` puts it there for every
tool, and docs/mim.md says so for users.
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, assert_ok, tiny_run_options
from modelindex.load_model_index import load

from mmunix.engine import load_from_local_weights_only

#: The ``mim`` command of the environment that runs the tests.
MIM = osp.join(osp.dirname(sys.executable), 'mim')
CONFIG = 'configs/unix_r56_r20_cifar100.py'


def run_mim(*args, cwd=REPO_ROOT):
    """Run ``mim *args`` in ``cwd`` with the repository on the Python path."""
    assert osp.isfile(MIM), (f'{MIM} is missing: install the tests extra, '
                             'pip install -e ".[tests]"')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    return subprocess.run([MIM, *map(str, args)],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)


def options(cifar_root, teacher_ckpt):
    """The tiny data in one batch of 16 (one iteration an epoch), and a random
    resnet56 teacher."""
    return [
        '--cfg-options', *tiny_run_options(cifar_root),
        'train_dataloader.batch_size=16', 'train_cfg.max_epochs=1',
        f'model.teacher_ckpt={teacher_ckpt}'
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory, cifar_root, teacher_ckpt):
    """``mim train mmunix configs/unix_r56_r20_cifar100.py``: one iteration.

    Returns the work dir and the finished process.
    """
    work_dir = tmp_path_factory.mktemp('mim_train')
    result = run_mim('train', 'mmunix', CONFIG, '--work-dir', work_dir,
                     *options(cifar_root, teacher_ckpt))
    return work_dir, result


@pytest.mark.slow
def test_mim_train_runs_the_packaged_train_py_for_one_iteration(trained):
    work_dir, result = trained
    assert_ok(result)
    # mim runs tools/train.py from mmunix/.mim with --launcher none, the
    # arguments it does not know passed through.
    command = re.search(r'Training command is (\S+) (\S+) (\S+) (.*)\. \n',
                        result.stdout)
    assert command.group(1) == sys.executable
    assert command.group(2).endswith('/mmunix/.mim/tools/train.py')
    assert osp.realpath(command.group(2)) == osp.join(REPO_ROOT, 'tools',
                                                      'train.py')
    assert command.group(3) == CONFIG
    assert command.group(4).startswith(
        f'--launcher none --work-dir {work_dir} --cfg-options ')
    assert 'Epoch(train) [1][1/1]' in result.stdout
    assert result.stdout.endswith('Training finished successfully. \n')

    checkpoint = load_from_local_weights_only(str(work_dir / 'epoch_1.pth'))
    assert checkpoint['meta']['iter'] == 1
    with open(work_dir / 'compute_report.json') as f:
        report = json.load(f)
    # UNIX keeps k = 0.75 N of the one batch of N = 16.
    assert (report['batch_samples'], report['teacher_samples'],
            report['student_scoring_samples'],
            report['student_train_samples']) == (16, 12, 16, 12)


@pytest.mark.slow
def test_mim_test_finds_the_config_by_name_from_any_directory(
        trained, tmp_path, cifar_root, teacher_ckpt):
    work_dir, training = trained
    assert_ok(training)
    checkpoint = work_dir / 'epoch_1.pth'
    metrics_file = tmp_path / 'metrics.json'
    result = run_mim(
        'test',
        'mmunix',
        'unix_r56_r20_cifar100.py',
        '--checkpoint',
        checkpoint,
        '--work-dir',
        tmp_path / 'test',
        '--out',
        metrics_file,
        *options(cifar_root, teacher_ckpt),
        cwd=tmp_path)
    assert_ok(result)
    found = re.search(
        r"The path unix_r56_r20_cifar100.py doesn't exist but we find the "
        r'config file in codebase mmunix, will use (\S+) instead\.',
        result.stdout)
    assert found.group(1) == osp.join(REPO_ROOT, CONFIG)
    assert f'Load checkpoint from {checkpoint}' in result.stdout
    # The 8 test images in batches of 4.
    assert 'Epoch(test) [2/2]' in result.stdout
    with open(metrics_file) as f:
        metrics = json.load(f)
    with open(work_dir / 'summary.json') as f:
        summary = json.load(f)
    # The same checkpoint on the same images as the training run's
    # validation.
    assert metrics['accuracy/top1'] == summary['student_last_top1']


def test_mim_search_lists_the_model_index(tmp_path):
    result = run_mim('search', 'mmunix', '--json', tmp_path / 'index.json')
    assert_ok(result)
    with open(tmp_path / 'index.json') as f:
        fields = json.load(f)
    index = load(osp.join(REPO_ROOT, 'model-index.yml'))
    assert fields['config'] == {
        model.name: model.config
        for model in index.models
    }
    assert fields['config']['unix_r56_r20_cifar100'] == CONFIG
    assert fields['flops']['unix_r56_r20_cifar100'] == 41224448
    assert fields['compute_ratio_vs_kd']['unix_r56_r20_cifar100'] == 0.947
    assert fields['cifar-100/top_1_accuracy']['unix_r56_r20_cifar100'] == 70.41
