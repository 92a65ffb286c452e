"""SafeRunner: load_from and --resume refuse what they would load wrongly;
auto-resume survives an empty or stale last_checkpoint."""
import os
import shutil

import pytest
import torch
from conftest import tiny_validation_settings, train_in_process

from mmunix.engine import CheckpointMismatchError, SafeRunner
from mmunix.engine.runner import latest_checkpoint

R56 = 'configs/teachers/resnet56_cifar100.py'
R110 = 'configs/teachers/resnet110_cifar100.py'
EPOCH_CHECKPOINTS = {
    'default_hooks.checkpoint':
    dict(type='CheckpointHook', interval=1, save_best=None)
}


@pytest.fixture(scope='module')
def r56_run(tmp_path_factory, cifar_root):
    """One epoch of resnet56 (8 iterations), with epoch_1.pth."""
    work_dir = tmp_path_factory.mktemp('r56_run')
    train_in_process(R56, work_dir, cifar_root, **EPOCH_CHECKPOINTS)
    return work_dir


def test_the_shipped_runtime_builds_a_safe_runner(tmp_path, cifar_root):
    runner = train_in_process(R56, tmp_path, cifar_root)
    assert type(runner) is SafeRunner


def test_load_from_a_checkpoint_of_another_model_is_refused(
        tmp_path, cifar_root, teacher_ckpt):
    # resnet110 has 18 blocks per stage where resnet56 has 9.
    with pytest.raises(
            CheckpointMismatchError,
            match=f'checkpoint {teacher_ckpt} does not match the model of '
            f'.*{R110}: it holds 344 tensors under backbone.*, head.*, the '
            r'model 668 under backbone.*, head.*; 270 missing from it \(e.g. '
            r'backbone.layer1.9.conv1.weight, .*; pass a checkpoint of this '
            'model, or set load_from_strict=False'):
        train_in_process(R110, tmp_path, cifar_root, load_from=teacher_ckpt)


def test_load_from_strict_false_loads_what_matches(tmp_path, cifar_root,
                                                   teacher_ckpt):
    runner = train_in_process(
        R110,
        tmp_path,
        cifar_root,
        load_from=teacher_ckpt,
        load_from_strict=False)
    assert runner.iter == 8


def test_resume_from_weights_only_says_it_holds_no_training_state(
        tmp_path, cifar_root, teacher_ckpt):
    with pytest.raises(
            CheckpointMismatchError,
            match=f'--resume {teacher_ckpt}: the checkpoint has no training '
            r'state \(meta.epoch, meta.iter, optimizer missing\).*'
            f'load_from={teacher_ckpt}, without --resume'):
        train_in_process(
            R56, tmp_path, cifar_root, resume=True, load_from=teacher_ckpt)


def test_resume_with_a_run_of_another_model_is_refused(tmp_path, cifar_root,
                                                       r56_run):
    checkpoint = str(r56_run / 'epoch_1.pth')
    with pytest.raises(
            CheckpointMismatchError,
            match='270 missing from it .*; resume with a '
            'checkpoint of this model'):
        train_in_process(
            R110, tmp_path, cifar_root, resume=True, load_from=checkpoint)


@pytest.mark.parametrize('pointer', ['', '/elsewhere/epoch_1.pth', None])
def test_auto_resume_finds_the_newest_checkpoint_of_the_work_dir(
        pointer, tmp_path, cifar_root, r56_run):
    # An interrupted write left last_checkpoint empty, the work dir was
    # moved, or last_checkpoint is gone.
    work_dir = tmp_path / 'moved'
    shutil.copytree(r56_run, work_dir)
    if pointer is None:
        os.remove(work_dir / 'last_checkpoint')
    else:
        (work_dir / 'last_checkpoint').write_text(pointer)
    assert latest_checkpoint(str(work_dir)) == str(work_dir / 'epoch_1.pth')
    runner = train_in_process(
        R56,
        work_dir,
        cifar_root,
        resume=True,
        **{
            'train_cfg.max_epochs': 2,
            **EPOCH_CHECKPOINTS
        })
    assert (runner.epoch, runner.iter) == (2, 16)


def test_newest_is_the_highest_number_iteration_checkpoints_last(tmp_path):
    for name in ('epoch_9.pth', 'epoch_10.pth', 'best_acc_epoch_12.pth',
                 'epoch_x.pth', 'iter_30.pth', 'iter_4.pth'):
        (tmp_path / name).write_bytes(b'')
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_30.pth')
    for name in ('iter_30.pth', 'iter_4.pth'):
        os.remove(tmp_path / name)
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_10.pth')


def test_auto_resume_in_an_empty_work_dir_starts_afresh(tmp_path, cifar_root):
    runner = train_in_process(R56, tmp_path, cifar_root, resume=True)
    assert runner.iter == 8


def test_a_checkpoint_with_nan_weights_is_refused(tmp_path, cifar_root,
                                                  teacher_ckpt):
    state = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    state['backbone.conv1.weight'][0, 0, 0, 0] = float('nan')
    diverged = tmp_path / 'diverged.pth'
    torch.save({'state_dict': state}, diverged)
    for strict in (True, False):
        with pytest.raises(
                CheckpointMismatchError,
                match=f'checkpoint {diverged} holds NaN or Inf in 1 '
                r'tensor\(s\) \(e.g. backbone.conv1.weight\): it was saved '
                'by a run that diverged'):
            train_in_process(
                R56,
                tmp_path / str(strict),
                cifar_root,
                load_from=str(diverged),
                load_from_strict=strict)


def test_a_refused_resume_leaves_the_work_dir_as_it_was(
        tmp_path, cifar_root, r56_run):
    work_dir = tmp_path / 'run'
    shutil.copytree(r56_run, work_dir)
    before = {
        p.name: p.read_bytes()
        for p in work_dir.iterdir() if p.is_file()
    }
    with pytest.raises(CheckpointMismatchError):
        train_in_process(
            R110,
            work_dir,
            cifar_root,
            resume=True,
            load_from=str(work_dir / 'epoch_1.pth'))
    after = {p.name: p.read_bytes() for p in work_dir.iterdir() if p.is_file()}
    assert after == before  # no resnet110 config copy either


def test_overwrite_deletes_the_old_run_only_once_the_new_one_is_built(
        tmp_path, cifar_root, r56_run):
    work_dir = tmp_path / 'run'
    shutil.copytree(r56_run, work_dir)
    old = (work_dir / 'epoch_1.pth').read_bytes()
    with pytest.raises(FileNotFoundError):
        train_in_process(
            R56,
            work_dir,
            cifar_root,
            overwrite_work_dir=True,
            load_from=str(tmp_path / 'missing.pth'))
    assert (work_dir / 'epoch_1.pth').read_bytes() == old

    train_in_process(
        R56,
        work_dir,
        cifar_root,
        overwrite_work_dir=True,
        **{
            'randomness.seed': 1,
            **EPOCH_CHECKPOINTS
        })
    assert (work_dir / 'epoch_1.pth').read_bytes() != old


@pytest.mark.slow
def test_resuming_another_work_dirs_checkpoint_keeps_its_best(
        tmp_path, cifar_root):
    # A best checkpoint needs validation; rule 'less' makes every epoch a
    # new best, so the resumed run replaces its best once.
    settings = {
        **tiny_validation_settings(cifar_root),
        'default_hooks.checkpoint':
        dict(
            type='CheckpointHook',
            interval=1,
            save_best='accuracy/top1',
            rule='less'),
    }
    first, second = tmp_path / 'first', tmp_path / 'second'
    train_in_process(R56, first, cifar_root, **settings)
    best = first / 'best_accuracy_top1_epoch_1.pth'
    assert best.is_file()

    train_in_process(
        R56,
        second,
        cifar_root,
        resume=True,
        load_from=str(first / 'epoch_1.pth'),
        **{
            'train_cfg.max_epochs': 2,
            **settings
        })
    assert best.is_file()
    assert (second / 'best_accuracy_top1_epoch_2.pth').is_file()
