"""The checks the converters make on SRC and DST before reading or writing
anything: nothing is lost to a wrong path."""
import os

import pytest

from mmunix.utils.tool_files import (check_input_file, check_output_file,
                                     unusable_input)
from mmunix.utils.user_errors import UserError


@pytest.mark.parametrize('kind, problem', [
    ('missing', 'does not exist'),
    ('directory', 'is a directory, not a file'),
])
def test_an_input_that_is_no_file_is_named(tmp_path, kind, problem):
    src = tmp_path / 'distill.pth'
    if kind == 'directory':
        src.mkdir()
    with pytest.raises(UserError) as error:
        check_input_file(str(src), 'SRC')
    assert str(error.value) == f'{src}: SRC {problem}.'


@pytest.mark.parametrize('spelling', ['same', 'dot', 'symlink', 'hardlink'])
def test_dst_that_is_an_input_is_refused_even_with_overwrite(
        tmp_path, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'distill.pth').write_bytes(b'weights')
    dst = {
        'same': 'distill.pth',
        'dot': './distill.pth'
    }.get(spelling, 'link.pth')
    if spelling == 'symlink':
        os.symlink('distill.pth', dst)
    elif spelling == 'hardlink':
        os.link('distill.pth', dst)

    with pytest.raises(UserError) as error:
        check_output_file(dst, {'SRC': 'distill.pth'}, overwrite=True)
    assert str(error.value) == (
        f'{dst}: DST is the same file as SRC (distill.pth) and would replace '
        'it; give another DST (even --overwrite never replaces SRC).')


def test_an_existing_dst_needs_overwrite(tmp_path):
    dst = tmp_path / 'student.pth'
    dst.write_bytes(b'an older export')
    with pytest.raises(UserError) as error:
        check_output_file(str(dst), {}, overwrite=False)
    assert str(
        error.value) == (f'{dst}: DST exists; pass --overwrite to replace it.')
    check_output_file(str(dst), {}, overwrite=True)


@pytest.mark.parametrize('existing', [True, False])
def test_dst_naming_a_directory_is_refused(tmp_path, existing):
    folder = tmp_path / 'exports'
    if existing:
        folder.mkdir()
    # A folder yet to be made is named by a trailing separator.
    dst = str(folder) + ('' if existing else os.sep)
    with pytest.raises(UserError) as error:
        check_output_file(dst, {}, overwrite=True)
    assert str(error.value) == (
        f'{dst}: DST is a directory; give the path of the file to write.')


def test_dst_below_a_file_is_refused(tmp_path):
    src = tmp_path / 'distill.pth'
    src.write_bytes(b'weights')
    dst = src / 'new' / 'student.pth'
    with pytest.raises(UserError) as error:
        check_output_file(str(dst), {'SRC': str(src)}, overwrite=False)
    assert str(error.value) == (
        f'{dst}: DST cannot be created: {src} is a file, not a folder.')


def test_an_unusable_input_is_named_once():
    named = unusable_input('a.pth', ValueError('a.pth is empty.'), 'b.pth')
    unnamed = unusable_input('a.pth', ValueError('no "student." keys'),
                             'b.pth')
    assert str(named) == 'a.pth is empty. Nothing was written to b.pth.'
    assert str(unnamed) == ('a.pth: no "student." keys. Nothing was written '
                            'to b.pth.')
