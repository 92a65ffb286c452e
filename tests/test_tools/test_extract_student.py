"""tools/model_converters/extract_student.py: what it refuses, and how.

A user error ends in one line naming the argument and its value, with
nothing written; other errors keep their traceback. The tool runs in this
process: a fresh one would spend seconds importing torch and mmunix. Its
export into mmpretrain is tested in tests/test_models/
test_classification_distiller.py.
"""
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, run_script_in_process

TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'extract_student.py')


def run_in_process(monkeypatch, *args):
    return run_script_in_process(monkeypatch, TOOL, *args)


def save_distillation_checkpoint(path) -> bytes:
    """A small checkpoint in ClassificationDistiller's layout; its bytes."""
    torch.save(
        {
            'meta': {
                'epoch': 3,
                'seed': 0
            },
            'state_dict': {
                'student.head.fc.weight': torch.ones(2, 4),
                'teacher.head.fc.weight': torch.zeros(2, 4),
            }
        }, path)
    return path.read_bytes()


def test_dst_that_is_src_is_refused_even_with_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / 'distill.pth'
    content = save_distillation_checkpoint(src)
    # tools/model_converters/extract_student.py SRC SRC; other spellings
    # of one file are tested in tests/test_utils/test_tool_files.py.
    dst = 'distill.pth'

    message = run_in_process(monkeypatch, 'distill.pth', dst, '--overwrite')

    assert message == (
        f'extract_student: error: {dst}: DST is the same file as SRC '
        '(distill.pth) and would replace it; give another DST (even '
        '--overwrite never replaces SRC).')
    assert src.read_bytes() == content


def test_existing_dst_is_kept_unless_overwrite_is_given(tmp_path, monkeypatch):
    src, dst = tmp_path / 'distill.pth', tmp_path / 'student.pth'
    save_distillation_checkpoint(src)
    dst.write_bytes(b'an older export')

    message = run_in_process(monkeypatch, src, dst)

    assert message == (f'extract_student: error: {dst}: DST exists; pass '
                       '--overwrite to replace it.')
    assert dst.read_bytes() == b'an older export'

    assert run_in_process(monkeypatch, src, dst, '--overwrite') is None
    exported = torch.load(dst, weights_only=True)
    assert list(exported['state_dict']) == ['head.fc.weight']
    assert exported['meta'] == {'epoch': 3}


def test_src_that_holds_no_dict_is_not_a_distillation_checkpoint(
        tmp_path, monkeypatch):
    src, dst = tmp_path / 'tensor.pth', tmp_path / 'student.pth'
    torch.save(torch.zeros(3), src)

    message = run_in_process(monkeypatch, src, dst)

    assert message == (
        f'extract_student: error: {src}: no "student." keys: this is not a '
        f'checkpoint of ClassificationDistiller. Nothing was written to '
        f'{dst}.')
    assert not dst.exists()


def test_truncated_src_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    src, dst = tmp_path / 'distill.pth', tmp_path / 'student.pth'
    src.write_bytes(save_distillation_checkpoint(src)[:1000])

    message = run_in_process(monkeypatch, src, dst)

    assert message == (
        f'extract_student: error: {src} is not a readable torch checkpoint '
        '(damaged, or not a checkpoint at all): the zip archive has no end '
        '(central directory): it is truncated. Nothing was written to '
        f'{dst}.')
    assert '\n' not in message and not dst.exists()


def test_debug_raises_the_user_error_with_its_cause(tmp_path, monkeypatch):
    src, dst = tmp_path / 'tensor.pth', tmp_path / 'student.pth'
    torch.save(torch.zeros(3), src)

    with pytest.raises(Exception) as error:
        run_in_process(monkeypatch, src, dst, '--debug')

    assert type(error.value).__name__ == 'UserError'
    assert str(error.value).startswith(f'{src}: no "student." keys')
    assert isinstance(error.value.__cause__, ValueError)


def test_an_error_that_is_not_the_users_keeps_its_traceback(
        tmp_path, monkeypatch):
    src = tmp_path / 'distill.pth'
    save_distillation_checkpoint(src)
    # Longer than the 255 bytes a file system allows a name: writing fails
    # with an OSError, which the tool does not turn into a message.
    dst = tmp_path / ('s' * 252 + '.pth')

    with pytest.raises(OSError, match='File name too long'):
        run_in_process(monkeypatch, src, dst)
