"""Files mmunix and MMEngine write appear whole or not at all."""
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT, train_in_process
from mmengine.fileio import get_file_backend
from mmengine.hooks import Hook

from mmunix.engine import AtomicLocalBackend
from mmunix.utils.atomic_save import (DiskFullError, save_atomically,
                                      write_atomically)


def leftovers(folder) -> list:
    return sorted(
        name for name in os.listdir(folder) if name.endswith('.partial'))


def test_writes_the_content_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / 'sub' / 'report.json'
    write_atomically(str(path), '{"a": 1}')
    write_atomically(str(path), b'{"a": 2}')
    assert path.read_text() == '{"a": 2}'
    assert leftovers(tmp_path / 'sub') == []


@pytest.mark.slow
def test_a_write_that_fails_midway_keeps_the_previous_file(tmp_path):
    # A file-size limit makes the write fail after 1,000 bytes, as a full
    # disk or a kill would interrupt it.
    path = tmp_path / 'epoch_2.pth'
    save_atomically({'weights': torch.zeros(10)}, str(path))
    before = path.read_bytes()
    script = (
        'import resource, signal, torch\n'
        'from mmunix.utils.atomic_save import save_atomically\n'
        'signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n'
        'resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n'
        f'save_atomically({{"weights": torch.ones(10000)}}, {str(path)!r})\n')
    finished = subprocess.run([sys.executable, '-c', script],
                              cwd=REPO_ROOT,
                              capture_output=True,
                              text=True)
    assert finished.returncode != 0
    assert 'File too large' in finished.stderr
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs, where this machine allows mounting one."""
    folder = tmp_path / 'small'
    folder.mkdir()
    mounted = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs',
         str(folder)],
        capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('mounting a small tmpfs needs privileges this machine '
                    'does not give')
    yield folder
    subprocess.run(['umount', str(folder)], capture_output=True)


def test_a_full_disk_says_so_and_keeps_the_previous_file(full_disk):
    path = full_disk / 'compute_report.json'
    write_atomically(str(path), 'previous')
    with pytest.raises(
            DiskFullError,
            match='the disk is full: .*'
            'compute_report.json was not written'):
        write_atomically(str(path), b'x' * 200_000)
    assert path.read_text() == 'previous'
    assert leftovers(full_disk) == []


def test_mmengine_writes_local_checkpoints_through_the_atomic_backend(
        tmp_path, cifar_root):
    assert isinstance(get_file_backend(str(tmp_path)), AtomicLocalBackend)
    train_in_process(
        'configs/kd_r56_r20_cifar100.py', tmp_path, cifar_root, **{
            'default_hooks.checkpoint':
            dict(type='CheckpointHook', interval=1, save_best=None)
        })
    checkpoint = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert checkpoint['meta']['epoch'] == 1
    assert leftovers(tmp_path) == []


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize('mask, mode', [(0o022, 0o644), (0o077, 0o600),
                                        (0o002, 0o664)])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    # mkstemp's 0600 would hide checkpoints from other users and containers.
    umask(mask)
    text, checkpoint = tmp_path / 'report.json', tmp_path / 'epoch_1.pth'
    write_atomically(str(text), '{}')
    save_atomically({'weights': torch.zeros(2)}, str(checkpoint))
    for path in (text, checkpoint):
        assert os.stat(path).st_mode & 0o7777 == mode
    plain = tmp_path / 'plain.txt'
    with open(plain, 'w'):
        pass
    assert os.stat(plain).st_mode & 0o7777 == mode


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    # As open(path, 'w') would: a chmod the user made survives a rewrite.
    umask(0o022)
    path = tmp_path / 'last_checkpoint'
    path.write_text('epoch_1.pth')
    os.chmod(path, 0o640)
    write_atomically(str(path), 'epoch_2.pth')
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert path.read_text() == 'epoch_2.pth'
    assert leftovers(tmp_path) == []


def test_the_umask_is_never_changed_while_writing(tmp_path, umask,
                                                  monkeypatch):
    # Changing it, even briefly, would affect files other threads create.
    umask(0o027)

    def refuse(mask):
        raise AssertionError(f'os.umask({mask:#o}) was called')

    monkeypatch.setattr(os, 'umask', refuse)
    write_atomically(str(tmp_path / 'a.json'), '{}')
    monkeypatch.undo()
    assert os.stat(tmp_path / 'a.json').st_mode & 0o7777 == 0o640


class FailingSaveAt(Hook):
    """Fails the checkpoint save of one epoch, as a full disk would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] == self.epoch:
            raise DiskFullError(28, 'the disk is full (simulated)')


@pytest.mark.slow
def test_a_failed_save_keeps_the_checkpoint_it_would_replace(
        tmp_path, cifar_root):
    keep_one = {
        'train_cfg.max_epochs':
        2,
        'default_hooks.checkpoint':
        dict(
            type='CheckpointHook',
            interval=1,
            max_keep_ckpts=1,
            save_best=None),
    }
    with pytest.raises(DiskFullError):
        train_in_process(
            'configs/teachers/resnet56_cifar100.py',
            tmp_path,
            cifar_root,
            hooks=[FailingSaveAt(2)],
            **keep_one)
    # MMEngine's own hook deletes epoch_1.pth before saving epoch 2.
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path /
                                                             'epoch_1.pth')

    runner = train_in_process('configs/teachers/resnet56_cifar100.py',
                              tmp_path / 'ok', cifar_root, **keep_one)
    hook, = [h for h in runner.hooks if type(h).__name__ == 'CheckpointHook']
    assert type(hook).__module__ == 'mmunix.engine.hooks.checkpoint_hook'
    assert sorted(p.name
                  for p in (tmp_path / 'ok').glob('*.pth')) == ['epoch_2.pth']
    assert (tmp_path / 'ok' / 'last_checkpoint').read_text() == str(
        tmp_path / 'ok' / 'epoch_2.pth')
    assert leftovers(tmp_path / 'ok') == []
