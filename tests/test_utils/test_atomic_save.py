"""Files mmunix and MMEngine write appear whole or not at all."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.fileio import get_file_backend

from mmunix.engine import AtomicLocalBackend
from mmunix.utils.atomic_save import (DiskFullError, save_atomically,
                                      write_atomically)

from conftest import REPO_ROOT, train_in_process


def leftovers(folder) -> list:
    return sorted(name for name in os.listdir(folder)
                  if name.endswith('.partial'))


def test_writes_the_content_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / 'sub' / 'report.json'
    write_atomically(str(path), '{"a": 1}')
    write_atomically(str(path), b'{"a": 2}')
    assert path.read_text() == '{"a": 2}'
    assert leftovers(tmp_path / 'sub') == []


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
    finished = subprocess.run([sys.executable, '-c', script], cwd=REPO_ROOT,
                              capture_output=True, text=True)
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
        ['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(folder)],
        capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('mounting a small tmpfs needs privileges this machine '
                    'does not give')
    yield folder
    subprocess.run(['umount', str(folder)], capture_output=True)


def test_a_full_disk_says_so_and_keeps_the_previous_file(full_disk):
    path = full_disk / 'compute_report.json'
    write_atomically(str(path), 'previous')
    with pytest.raises(DiskFullError, match='the disk is full: .*'
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
