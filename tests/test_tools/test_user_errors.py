"""Known user errors end tools/train.py and tools/test.py with one line that
names the problem, before anything is written; --debug shows the traceback.

A new run never overwrites another run's work dir unless asked to.
"""
import os

import pytest
from conftest import (PYTHON, REPO_ROOT, assert_ok, run_script_in_process,
                      run_tool, tiny_run_options, train_in_process)
from mmengine.config import Config

from mmunix.registry import MODELS
from mmunix.utils import register_all_modules
from mmunix.utils.runner_args import (WorkDirInUseError, check_option_keys,
                                      check_work_dir)
from mmunix.utils.user_errors import one_line, one_line_errors

TEACHER = 'configs/teachers/resnet56_cifar100.py'
DEBUG_HINT = ' (--debug shows the traceback)'


def train(work_dir, cifar_root, *extra, options=()):
    return run_tool([
        PYTHON, 'tools/train.py', TEACHER, '--work-dir',
        str(work_dir), *extra, '--cfg-options', *tiny_run_options(cifar_root),
        'train_cfg.max_epochs=1', *options
    ])


def one_line_error(result) -> str:
    """The error line a refused command ended with; checks that it is the only
    sign of the error (no traceback)."""
    assert result.returncode == 1, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def snapshot(folder) -> dict:
    return {
        name: (folder / name).read_bytes()
        for name in sorted(os.listdir(folder)) if (folder / name).is_file()
    }


@pytest.mark.slow
def test_a_new_run_into_a_used_work_dir_needs_overwrite(tmp_path, cifar_root):
    assert_ok(train(tmp_path, cifar_root))
    before = snapshot(tmp_path)
    assert {'epoch_1.pth', 'last_checkpoint'} <= set(before)

    refused = train(tmp_path, cifar_root)

    assert one_line_error(refused) == (
        f'train.py: error: work dir {tmp_path} holds another run '
        '(epoch_1.pth, best_accuracy_top1_epoch_1.pth, last_checkpoint, '
        'summary.json and 1 more); '
        'continue it with --resume, train into a new --work-dir, or pass '
        '--overwrite to delete those files and start again' + DEBUG_HINT)
    assert snapshot(tmp_path) == before

    assert_ok(train(tmp_path, cifar_root, '--overwrite'))
    after = snapshot(tmp_path)
    assert set(after) == set(before)
    assert after['epoch_1.pth'] != before['epoch_1.pth']


@pytest.mark.slow
def test_a_typo_in_a_cfg_options_key_is_one_line_and_debug_shows_more(
        tmp_path, cifar_root):
    refused = train(tmp_path, cifar_root, options=['trian_cfg.max_epochs=1'])
    assert one_line_error(refused) == (
        "train.py: error: --cfg-options trian_cfg.max_epochs=1: 'trian_cfg' "
        f'is no key of {TEACHER} nor one that MMEngine\'s Runner '
        "reads; did you mean 'train_cfg'?" + DEBUG_HINT)
    assert os.listdir(tmp_path) == []

    debugged = train(
        tmp_path, cifar_root, '--debug', options=['trian_cfg.max_epochs=1'])
    assert debugged.returncode == 1
    assert 'Traceback' in debugged.stderr
    assert "did you mean 'train_cfg'?" in debugged.stderr


@pytest.mark.slow
def test_test_py_refuses_a_directory_as_checkpoint_in_one_line(
        tmp_path, cifar_root):
    result = run_tool([
        PYTHON, 'tools/test.py', TEACHER,
        str(tmp_path), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *tiny_run_options(cifar_root)
    ])
    assert one_line_error(result) == (
        f'test.py: error: {tmp_path} is a directory; a checkpoint file is '
        'expected (e.g. one of the .pth files in it).' + DEBUG_HINT)


@pytest.mark.parametrize('key, hint', [
    ('trian_cfg.max_epochs', "; did you mean 'train_cfg'?"),
    ('xyzzy', ''),
])
def test_unknown_top_level_keys_are_refused(key, hint):
    cfg = Config.fromfile(f'{REPO_ROOT}/{TEACHER}')
    with pytest.raises(KeyError) as error:
        check_option_keys(cfg, {key: 1})
    assert error.value.args[0].endswith(f'reads{hint}')


def test_known_top_level_keys_pass():
    cfg = Config.fromfile(f'{REPO_ROOT}/{TEACHER}')
    # Keys of the config, of Runner.__init__ and those the Runner reads.
    check_option_keys(
        cfg, {
            'train_cfg.max_epochs': 1,
            'resume': True,
            'load_from_strict': False,
            'compile': True,
            'model_wrapper_cfg.type': 'MMDistributedDataParallel',
        })


def test_an_error_mmunix_raised_is_found_beneath_mmengines_wrapping():
    register_all_modules()
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/kd_r56_r20_cifar100.py')
    cfg.model.teacher_ckpt = None
    cfg.model.kd_loss = None
    cfg.model.ce_loss.loss_weight = 0
    with pytest.raises(SystemExit) as exit_info:
        with one_line_errors('train.py'):
            MODELS.build(cfg.model)
    assert exit_info.value.code == (
        'train.py: error: model.kd_loss, model.ce_loss and '
        'model.feature_losses give no loss to train on (each is None or has '
        'loss_weight=0); keep at least one, e.g. the default '
        "kd_loss=dict(type='KDLoss', temperature=4.0, loss_weight=1.0)" +
        DEBUG_HINT)


def test_unexpected_errors_and_debug_keep_their_traceback(tmp_path):
    with pytest.raises(KeyError):  # a Python error, not one mmunix raised
        with one_line_errors('train.py'):
            {}['missing']

    (tmp_path / 'last_checkpoint').write_text('epoch_1.pth')
    cfg = Config(dict(work_dir=str(tmp_path)))
    with pytest.raises(SystemExit):
        with one_line_errors('train.py'):
            check_work_dir(cfg, overwrite=False)
    with pytest.raises(WorkDirInUseError):
        with one_line_errors('train.py', debug=True):
            check_work_dir(cfg, overwrite=False)


@pytest.mark.parametrize('message, line', [
    ('one line', 'one line'),
    ('cannot be loaded:\n  missing a\n  missing b\nDownload it.',
     'cannot be loaded: missing a; missing b. Download it.'),
    ('first.\nSecond', 'first. Second'),
])
def test_a_message_of_several_lines_is_joined_into_one(message, line):
    assert one_line(message) == line


@pytest.mark.parametrize('where, message', [
    ('afile', '--work-dir {path} is a file; give a folder'),
    ('afile/sub', '--work-dir {path} cannot be created: Not a directory'),
])
def test_a_work_dir_that_cannot_be_one_is_named(tmp_path, where, message):
    (tmp_path / 'afile').write_text('not a folder')
    path = tmp_path / where
    with pytest.raises(SystemExit) as exit_info:
        with one_line_errors('train.py'):
            check_work_dir(Config(dict(work_dir=str(path))), overwrite=False)
    assert exit_info.value.code == ('train.py: error: ' +
                                    message.format(path=path) + DEBUG_HINT)


@pytest.mark.parametrize('out, message', [
    ('metrics.txt', '--out {out}: the metrics are written as JSON, YAML or '
     'pickle; end the name with one of .json, .yaml, .yml, .pkl, .pickle.'),
    ('model.pkl', '{out}: --out is the same file as the checkpoint '
     '({checkpoint}) and would replace it; give another --out.'),
])
def test_test_py_checks_out_before_testing(tmp_path, monkeypatch, out,
                                           message):
    checkpoint = tmp_path / 'model.pkl'
    checkpoint.write_bytes(b'weights')
    out = tmp_path / out
    refused = run_script_in_process(monkeypatch, f'{REPO_ROOT}/tools/test.py',
                                    TEACHER, checkpoint, '--out', out)
    assert refused == 'test.py: error: ' + message.format(
        out=out, checkpoint=checkpoint)
    assert checkpoint.read_bytes() == b'weights'


def test_amp_on_the_cpu_is_a_one_line_error(tmp_path, monkeypatch):
    refused = run_script_in_process(monkeypatch, f'{REPO_ROOT}/tools/train.py',
                                    TEACHER, '--amp', '--work-dir', tmp_path)
    assert refused == (
        'train.py: error: --amp needs an accelerator (CUDA, NPU, MLU or '
        'MUSA); this machine has none. Train without --amp on the CPU.')
    assert os.listdir(tmp_path) == []


def test_a_work_dir_with_a_run_training_in_it_is_refused(tmp_path):
    import socket
    import subprocess
    import sys

    from mmunix.engine.runner import RUN_LOCK
    cfg = Config(dict(work_dir=str(tmp_path)))
    lock = tmp_path / RUN_LOCK
    lock.write_text(f'{socket.gethostname()} {os.getpid()}')
    with pytest.raises(WorkDirInUseError, match='a run is training in it'):
        check_work_dir(cfg, overwrite=True)  # --overwrite does not help

    # The mark of a run that was killed: its process is gone.
    finished = subprocess.run(
        [sys.executable, '-c', 'import os; '
         'print(os.getpid())'],
        capture_output=True,
        text=True)
    lock.write_text(f'{socket.gethostname()} {finished.stdout.strip()}')
    check_work_dir(cfg, overwrite=False)


def test_training_marks_the_work_dir_only_while_it_runs(tmp_path, cifar_root):
    from mmengine.hooks import Hook

    from mmunix.engine.runner import RUN_LOCK, training_process

    seen = []

    class LookAtTheMark(Hook):

        def before_train(self, runner):
            seen.append(training_process(runner.work_dir))

    train_in_process(TEACHER, tmp_path, cifar_root, hooks=[LookAtTheMark()])
    assert seen[0].endswith(f' {os.getpid()}')
    assert not (tmp_path / RUN_LOCK).exists()
