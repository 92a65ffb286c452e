"""Write files so that each is either complete or absent.

A process killed mid-write, or a disk that fills up, must never leave a
truncated checkpoint or report behind that a later run would trust. Every
file is therefore written to a temporary file in the destination's folder,
flushed to disk, and renamed over the destination: the rename is atomic on
one file system, so readers see the old file or the new one, never a mix.
"""
import errno
import io
import os
import os.path as osp
import tempfile
from typing import Union

import torch


class DiskFullError(OSError):
    """A file could not be written because its disk is full."""


def write_atomically(path: str, data: Union[bytes, str]) -> None:
    """Write ``data`` to ``path`` whole, or leave ``path`` as it was.

    Args:
        path (str): The destination; its folder is created if needed.
        data (bytes | str): The content; ``str`` is written as UTF-8.

    Raises:
        DiskFullError: The disk is full. The partial temporary file is
            removed and ``path`` keeps its previous content.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, partial = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.partial')
    try:
        with os.fdopen(handle, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException as error:
        if osp.exists(partial):
            os.remove(partial)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise DiskFullError(
                errno.ENOSPC, f'the disk is full: {path} was not written '
                f'({len(data)} bytes); its previous version, if any, is '
                'intact. Free space and resume.') from error
        raise
    _sync_folder(folder)


def _sync_folder(folder: str) -> None:
    """Make the rename itself survive a power cut, where the OS allows."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def save_atomically(checkpoint: dict, path: str) -> None:
    """``torch.save`` of ``checkpoint`` to ``path``, whole or not at all."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_atomically(path, buffer.getvalue())
