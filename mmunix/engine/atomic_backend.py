"""MMEngine's local file backend, writing every file whole or not at all."""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from mmunix.utils.atomic_save import write_atomically


class AtomicLocalBackend(LocalBackend):
    """MMEngine's ``LocalBackend`` whose writes are atomic.

    MMEngine writes every checkpoint through the backend of its path
    (``Runner.save_checkpoint``: ``CheckpointHook``'s epoch, iteration and
    best checkpoints), and ``LocalBackend.put`` opens the destination and
    writes into it: a kill or a full disk in between leaves a truncated
    checkpoint under the final name. Here each write goes through
    :func:`mmunix.utils.atomic_save.write_atomically`.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        write_atomically(str(filepath), obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        write_atomically(str(filepath), obj.encode(encoding))


def use_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` MMEngine's backend for local paths
    (those without a ``scheme://`` prefix)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
