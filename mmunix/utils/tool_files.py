"""Checks of the files a command-line tool reads and writes, made before it
reads or writes any, so that a wrong path loses nothing."""
import os
import os.path as osp
from typing import Dict

from mmunix.utils.user_errors import UserError


def check_input_file(path: str, name: str) -> None:
    """Refuse an input ``path`` (the argument ``name``) that is missing or a
    directory."""
    if not osp.exists(path):
        raise UserError(f'{path}: {name} does not exist.')
    if osp.isdir(path):
        raise UserError(f'{path}: {name} is a directory, not a file.')


def check_output_file(path: str,
                      inputs: Dict[str, str],
                      overwrite: bool,
                      name: str = 'DST') -> None:
    """Refuse an output ``path`` (the argument ``name``) that would lose data
    or cannot be written.

    Args:
        path (str): The file to write (DST).
        inputs (dict[str, str]): The files read, by argument name. DST may
            not be any of them (also under another spelling, a symlink or a
            hard link), even with ``overwrite``: the result would replace
            what it is made from.
        overwrite (bool): Whether an existing DST may be replaced.
        name (str): The argument, as the messages name it: the converters'
            ``'DST'`` (default, whose tools take ``--overwrite``), or e.g.
            ``'--out'``.
    """
    if path.endswith(('/', os.sep)) or osp.isdir(path):
        raise UserError(f'{path}: {name} is a directory; give the path of '
                        'the file to write.')
    for input_name, source in inputs.items():
        if osp.exists(path) and osp.exists(source) and osp.samefile(
                path, source):
            never = (f' (even --overwrite never replaces {input_name})'
                     if name == 'DST' else '')
            raise UserError(f'{path}: {name} is the same file as '
                            f'{input_name} ({source}) and would replace it; '
                            f'give another {name}{never}.')
    # lexists: a dangling symlink is replaced like a file.
    if osp.lexists(path) and not overwrite:
        raise UserError(f'{path}: {name} exists; pass --overwrite to replace '
                        'it.')
    # The folders DST needs are created on writing, which fails if a file
    # stands where one of them should be.
    folder = osp.dirname(osp.abspath(path))
    while not osp.exists(folder):
        folder = osp.dirname(folder)
    if not osp.isdir(folder):
        raise UserError(f'{path}: {name} cannot be created: {folder} is a '
                        'file, not a folder.')


def unusable_input(path: str, error: Exception, dst: str) -> UserError:
    """The error for an input ``path`` that was read but is not what the tool
    needs (``error`` says why), before anything was written to ``dst``."""
    reason = str(error).rstrip('.')
    # The checkpoint loaders already name the file.
    if path not in reason:
        reason = f'{path}: {reason}'
    return UserError(f'{reason}. Nothing was written to {dst}.')
