"""Write files so that each is either complete or absent.

A process killed mid-write, or a disk that fills up, must never leave a
truncated checkpoint or report behind that a later run would trust. Every
file is therefore written to a temporary file in the destination's folder,
flushed to disk, and renamed over the destination: the rename is atomic on
one file system, so readers see the old file or the new one, never a mix.

The file gets the permissions a plain ``open(path, 'w')`` would give it, not
the owner-only 0600 of ``tempfile.mkstemp``: checkpoints and reports are
read by other users and containers.
"""
import errno
import io
import os
import os.path as osp
import secrets
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
    handle, partial = _create_partial(path, folder)
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


def _create_partial(path: str, folder: str):
    """Create ``path``'s temporary file in its ``folder``, with the permissions
    ``open(path, 'w')`` would leave ``path`` with.

    A new file is created with mode 0666 and the kernel takes the umask off,
    as for ``open``; this also honours a default ACL of the folder. Reading
    the umask instead would need ``os.umask(0)`` and a restore, which
    changes it for the whole process meanwhile: a file another thread
    created then would be world-writable. If ``path`` exists, ``open``
    would keep its permission bits, so the temporary file takes them over
    (set-id and sticky bits excepted: they are not meant for a new file).

    Returns:
        tuple[int, str]: The open descriptor and the temporary file's path.
    """
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:  # no such file yet: the umask decides
        mode = None
    # O_EXCL never opens an existing file or follows a link, as in mkstemp.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0)
    for _ in range(100):
        partial = osp.join(
            folder, f'.{osp.basename(path)}.{secrets.token_hex(6)}.partial')
        try:
            handle = os.open(partial, flags, 0o666)
            break
        except FileExistsError:  # a name taken by chance: draw another
            continue
    else:
        raise FileExistsError(
            errno.EEXIST, f'no free temporary name for {path} in {folder}')
    if mode is not None:
        try:
            os.chmod(partial, mode)
        except OSError:
            # Some file systems (FAT, some network mounts) refuse chmod;
            # the write matters more than the mode.
            pass
    return handle, partial


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
