"""Record loss values in the message hub only when they are logged."""
from collections import defaultdict
from typing import Dict, List

import torch
from mmengine.hooks import RuntimeInfoHook
from mmengine.utils import apply_to

from mmunix.registry import HOOKS
from .utils import logs_after_train_iter


@HOOKS.register_module()
class DeferredRuntimeInfoHook(RuntimeInfoHook):
    """MMEngine's ``RuntimeInfoHook`` without a host sync per iteration.

    ``RuntimeInfoHook`` puts every value of the model's training outputs
    (``loss``, ``loss_kd``...) into the message hub after every iteration,
    through ``.item()``. On CUDA each ``.item()`` makes the host wait until
    the GPU has finished the iteration, so the GPU idles while Python builds
    the next one.

    This hook keeps the values as tensors on their device and copies them to
    the host in one transfer per device and dtype where they are read: on
    iterations where ``LoggerHook`` writes a line, before a checkpoint
    stores the message hub, at the end of training, and after at most
    ``MAX_PENDING_ITERS`` iterations. The message hub then holds exactly the
    values, each key's in the same order, that ``RuntimeInfoHook`` would
    have put there, so log lines, smoothing windows and checkpoints are
    unchanged (only the keys of ``scalars.json`` may come in another
    order). A hook of your own that reads ``train/*`` scalars from the
    message hub on other iterations sees them up to the last flush.

    Set it as ``default_hooks.runtime_info``; mmunix's default runtime does.
    """

    #: Iterations kept on the device at most, when nothing logs.
    MAX_PENDING_ITERS = 1000

    def __init__(self):
        # Per iteration, the model's outputs: detached tensors or numbers.
        self._pending: List[Dict[str, object]] = []

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        flush = self.syncs_after_train_iter(runner, batch_idx)
        if outputs is not None:
            self._pending.append({
                key: _scalar(key, value)
                for key, value in outputs.items()
            })
        if flush:
            self.flush(runner)

    def syncs_after_train_iter(self, runner, batch_idx: int) -> bool:
        """Whether the values are copied to the host after the current
        iteration: where ``LoggerHook`` logs it, or the buffer is full."""
        return logs_after_train_iter(runner, batch_idx) or \
            len(self._pending) + 1 >= self.MAX_PENDING_ITERS

    def flush(self, runner) -> None:
        """Copy the pending values to the host and record them in
        ``runner.message_hub`` as ``train/<key>``, in iteration order."""
        # (device, dtype) -> [(iteration, key, tensor)]
        tensors = defaultdict(list)
        for index, outputs in enumerate(self._pending):
            for key, value in outputs.items():
                if isinstance(value, torch.Tensor):
                    tensors[value.device, value.dtype].append(
                        (index, key, value))
        host = {}
        for group in tensors.values():
            values = torch.stack([value.reshape(()) for _, _, value in group])
            for (index, key, _), number in zip(group, values.tolist()):
                host[index, key] = number
        for index, outputs in enumerate(self._pending):
            for key, value in outputs.items():
                runner.message_hub.update_scalar(f'train/{key}',
                                                 host.get((index, key), value))
        self._pending = []

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # The Runner put the message hub into the checkpoint before calling
        # the hooks, so store it again with the pending values in it.
        if self._pending:
            self.flush(runner)
            checkpoint['message_hub'] = apply_to(
                runner.message_hub.state_dict(), lambda x: hasattr(x, 'cpu'),
                lambda x: x.cpu())

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)


def _scalar(key: str, value):
    """``value`` detached from autograd if it is a one-number tensor, as it is
    if it is no tensor; only the shape is read, so the host does not wait."""
    if not isinstance(value, torch.Tensor):
        return value
    if value.numel() != 1:
        raise ValueError(
            f'the model output {key!r} has shape {tuple(value.shape)}; '
            'training outputs are logged and must hold one number')
    return value.detach()
