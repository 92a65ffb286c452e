"""Find the places where the host waits for the device.

On CUDA, reading a tensor's value on the host (``.item()``, ``if tensor:``,
``.tolist()``, ``.cpu()``...) blocks until the GPU has finished all queued
work. One such call per training iteration keeps the GPU idle while Python
prepares the next one. PyTorch reports these calls on CUDA through
``torch.cuda.set_sync_debug_mode``; :class:`TensorSyncTrap` catches the same
Python-level calls on any device, so that a CPU-only test can show that a
training iteration would not sync on a GPU.
"""
import contextlib
import os.path as osp
import threading
import traceback
from typing import List

import torch

#: Tensor methods that copy a value to the host: on CUDA each one waits for
#: the device.
SYNCING_TENSOR_METHODS = ('item', 'tolist', 'cpu', 'numpy', '__bool__',
                          '__float__', '__int__', '__index__')


class HostSyncError(RuntimeError):
    """A tensor was read on the host where that is not allowed."""


class TensorSyncTrap:
    """Record, or refuse, the calls of :data:`SYNCING_TENSOR_METHODS` made
    while the trap is entered.

    The methods are replaced on ``torch.Tensor`` for the duration of the
    ``with`` block, in every thread, and restored on exit. A refused call
    restores them before it raises, so no test or tool is left patched.

    Args:
        refuse (bool): Raise :class:`HostSyncError` at the first call
            instead of recording it. Defaults to False.

    Attributes:
        calls (list[str]): ``'Tensor.<method> at <file>:<line> in
            <function>'`` per recorded call, the caller being the innermost
            frame outside PyTorch.
    """

    _lock = threading.Lock()

    def __init__(self, refuse: bool = False):
        self.refuse = refuse
        self.calls: List[str] = []
        self._saved = {}

    def __enter__(self) -> 'TensorSyncTrap':
        with self._lock:
            if self._saved:
                raise RuntimeError('this TensorSyncTrap is already entered')
            for name in SYNCING_TENSOR_METHODS:
                self._saved[name] = torch.Tensor.__dict__.get(name)
                setattr(torch.Tensor, name,
                        self._trap(name, getattr(torch.Tensor, name)))
        return self

    def __exit__(self, *exc_info) -> None:
        self._restore()

    def _restore(self) -> None:
        with self._lock:
            for name, saved in self._saved.items():
                if saved is None:
                    delattr(torch.Tensor, name)
                else:
                    setattr(torch.Tensor, name, saved)
            self._saved = {}

    def _trap(self, name: str, method):
        trap = self

        def trapped(tensor, *args, **kwargs):
            call = f'Tensor.{name} at {_caller()}'
            if trap.refuse:
                trap._restore()
                raise HostSyncError(
                    f'{call} reads a tensor on the host; on a GPU this '
                    'waits for the device')
            trap.calls.append(call)
            return method(tensor, *args, **kwargs)

        return trapped


_TORCH_DIR = osp.dirname(torch.__file__) + osp.sep


def _caller() -> str:
    """The innermost stack frame outside PyTorch and this module."""
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(_TORCH_DIR) \
                and frame.filename != __file__:
            return f'{frame.filename}:{frame.lineno} in {frame.name}'
    return '<unknown>'


def copy_to_device(tensor: torch.Tensor, device) -> torch.Tensor:
    """Copy a host tensor to ``device`` without making the host wait.

    On CUDA the tensor is pinned first: a non-blocking copy from pageable
    memory may still be synchronous with the host. PyTorch's caching host
    allocator keeps the pinned block until the copy has run.
    """
    device = torch.device(device)
    if device.type == 'cuda' and not tensor.is_pinned():
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


@contextlib.contextmanager
def forbid_host_syncs(device_type: str):
    """Fail at the first host sync inside the ``with`` block.

    On CUDA this is ``torch.cuda.set_sync_debug_mode('error')``, which also
    catches syncs inside PyTorch (blocking copies, ``nonzero``...). On other
    devices it is a refusing :class:`TensorSyncTrap`.

    Args:
        device_type (str): ``'cuda'``, ``'cpu'``... where the model runs.
    """
    if device_type != 'cuda':
        with TensorSyncTrap(refuse=True):
            yield
        return
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode('error')
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)
