"""Stop a run whose losses or weights stop being finite, before a checkpoint
stores them."""
import functools
from typing import List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper

from mmunix.registry import HOOKS
from .utils import logs_after_train_iter, saves_after_train_iter

#: "No non-finite value yet", larger than any iteration.
_NONE = torch.iinfo(torch.int64).max
ACTIONS = ('stop', 'skip')


class NonFiniteTrainingError(RuntimeError):
    """A loss or the weights of a training run stopped being finite."""


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Stop training at a NaN or Inf loss or weight, naming the iteration and
    the loss, before any checkpoint is written from such weights.

    After every iteration it checks, on the device, that each loss of the
    model's outputs is finite and that the trained weights and the buffers
    of the modules in training mode (BatchNorm statistics) are still finite
    after the optimizer step, which catches non-finite gradients. It keeps
    the first iteration that failed, without making the host wait for the
    device:

    - In a single-process run that record is copied to the host
      asynchronously after every iteration and read once the copy has
      landed: on the CPU at once, so the run stops at the bad iteration; on
      a GPU one or two iterations later, as far as the host runs ahead.
    - Every process also reads it, together, where the run reads values
      anyway: on iterations where ``LoggerHook`` logs or a checkpoint is
      saved, at the end of each epoch (before ``CheckpointHook`` saves) and
      at the end of training. Under DDP that is where it stops, at most one
      log interval after the bad iteration.

    Either way no checkpoint is written from non-finite weights, so the last
    one stays the resume point. As a last check, a checkpoint whose weights
    are not finite is never saved.

    Args:
        on_non_finite (str): ``'stop'`` (the default) raises
            :class:`NonFiniteTrainingError`. ``'skip'`` drops an optimizer
            step whose loss or gradients are not finite, restores the
            BatchNorm statistics of that iteration, logs and counts it, and
            trains on; deciding that before the step reads the loss and the
            gradients on the host once per iteration.
    """
    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook

    def __init__(self, on_non_finite: str = 'stop'):
        if on_non_finite not in ACTIONS:
            raise ValueError(
                f'default_hooks.nan_guard.on_non_finite={on_non_finite!r} '
                f'must be one of {ACTIONS}')
        self.on_non_finite = on_non_finite
        self.skipped = 0
        self._watched: List[torch.Tensor] = []
        self._restorable: List[torch.Tensor] = []
        self._snapshot: List[torch.Tensor] = []
        self._names: List[str] = []
        self._codes = {}
        self._first_bad: Optional[torch.Tensor] = None
        self._skipped_now = False
        # The host's copy of _first_bad, a NumPy view of it (host memory:
        # reading it waits for nothing) and the event that says when the
        # copy has landed.
        self._on_host: Optional[torch.Tensor] = None
        self._on_host_values = None
        self._landed: Optional[torch.cuda.Event] = None

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        trained = [p for p in model.parameters() if p.requires_grad]
        # Buffers that training changes: those of modules in training mode,
        # i.e. not of a frozen teacher kept in eval mode.
        self._restorable = [
            buffer for module in model.modules() if module.training
            for buffer in module.buffers(recurse=False)
            if buffer.is_floating_point()
        ]
        # Detached once: the optimizer updates the same storage in place.
        self._watched = [t.detach() for t in trained + self._restorable]
        device = trained[0].device if trained else torch.device('cpu')
        self._first_bad = torch.tensor([_NONE, -1], device=device)
        if get_world_size() == 1:
            self._on_host = torch.empty(
                2, dtype=torch.int64, pin_memory=device.type == 'cuda')
            self._on_host_values = self._on_host.numpy()
        if self.on_non_finite == 'skip':
            self._guard_steps(runner.optim_wrapper, trained)

    def _guard_steps(self, optim_wrapper, params: List[torch.Tensor]) -> None:
        """Drop the optimizer step of an iteration whose loss or gradients are
        not finite, and restore the buffers it changed."""
        if isinstance(optim_wrapper, AmpOptimWrapper):
            raise ValueError(
                "default_hooks.nan_guard.on_non_finite='skip' cannot be "
                'combined with AMP (optim_wrapper.type=AmpOptimWrapper), '
                'whose loss scaler already skips steps with non-finite '
                'gradients')
        backward, step = optim_wrapper.backward, optim_wrapper.step
        self._snapshot = [buffer.clone() for buffer in self._restorable]
        losses = []

        @functools.wraps(backward)
        def remembering_backward(loss, *args, **kwargs):
            losses.append(loss.detach())
            return backward(loss, *args, **kwargs)

        @functools.wraps(step)
        def guarded_step(*args, **kwargs):
            values = losses + [p.grad for p in params if p.grad is not None]
            losses.clear()
            if values and not bool(_all_finite(values)):
                optim_wrapper.zero_grad()
                if self._restorable:
                    torch._foreach_copy_(self._restorable, self._snapshot)
                self._skipped_now = True
                return None
            return step(*args, **kwargs)

        optim_wrapper.backward = remembering_backward
        optim_wrapper.step = guarded_step

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._skipped_now = False
        if self._snapshot:
            torch._foreach_copy_(self._snapshot, self._restorable)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if self._skipped_now:
            self.skipped += 1
            runner.logger.warning(
                f'NonFiniteGuardHook: skipped the optimizer step of '
                f'iteration {runner.iter + 1}: its loss or gradients are not '
                f'finite ({self.skipped} skipped so far)')
        else:
            self._record(runner.iter + 1, outputs or {})
        if self.syncs_after_train_iter(runner, batch_idx):
            self.check(runner)
        elif self._on_host is not None:
            self._check_landed_copy(runner)

    def _check_landed_copy(self, runner) -> None:
        """Check the newest copy of the record that has reached the host, and
        copy the current one; nothing here waits for the device."""
        if self._landed is not None:
            if not self._landed.query():
                return  # the last copy is still on its way
            self._landed = None
            self._check_host_copy(runner)
        self._on_host.copy_(self._first_bad, non_blocking=True)
        if self._first_bad.is_cuda:
            self._landed = torch.cuda.Event()
            self._landed.record()
        else:  # a copy on the CPU is done when copy_ returns
            self._check_host_copy(runner)

    def _check_host_copy(self, runner) -> None:
        if self._on_host_values[0] != _NONE:
            self.check(runner)

    def _record(self, iteration: int, outputs: dict) -> None:
        """Keep, on the device, the first iteration with a non-finite loss or
        weight, and which (an index into ``self._names``, -1 for the
        weights)."""
        losses = {
            key: value
            for key, value in outputs.items()
            if isinstance(value, torch.Tensor) and 'loss' in key
        }
        # The total 'loss' last: name the part that went wrong first.
        keys = tuple(sorted(losses, key=lambda key: key == 'loss'))
        device = self._first_bad.device
        checks = []
        if keys:
            checks.append(~torch.isfinite(
                torch.stack(
                    [losses[key].detach().float().reshape(())
                     for key in keys])))
        if self._watched:
            checks.append((~_all_finite(self._watched)).view(1))
        if not checks:
            return
        bad = torch.cat(checks)
        if keys not in self._codes:
            self._names.extend(key for key in keys if key not in self._names)
            # Made once per set of keys: a tensor from a list is a copy.
            self._codes[keys] = torch.tensor(
                [self._names.index(key)
                 for key in keys] + [-1] * bool(self._watched),
                device=device)
        code = self._codes[keys][bad.to(torch.int64).argmax()]
        found = torch.stack([
            torch.full((), iteration, dtype=torch.int64, device=device), code
        ])
        first = self._first_bad[0] == _NONE
        self._first_bad = torch.where(first & bad.any(), found,
                                      self._first_bad)

    def syncs_after_train_iter(self, runner, batch_idx: int) -> bool:
        """Whether the check reads the device after the current iteration,
        which it does where values are read anyway, and every iteration under
        'skip'."""
        return (self.on_non_finite == 'skip'
                or logs_after_train_iter(runner, batch_idx)
                or saves_after_train_iter(runner)
                or self.is_last_train_iter(runner))

    def after_train_epoch(self, runner) -> None:
        # Before CheckpointHook saves the epoch; runner.iter already counts
        # the epoch's last iteration here.
        self.check(runner, found_at=runner.iter)

    def check(self, runner, found_at: Optional[int] = None) -> None:
        """Raise :class:`NonFiniteTrainingError` if any process recorded a
        value that is not finite (a collective: all processes call it)."""
        iteration = self._first_bad[:1].clone()
        all_reduce(iteration, op='min')
        first = int(iteration.item())
        if first == _NONE:
            return
        local_iteration, code = self._first_bad.tolist()
        where = f'iteration {first}{_epoch_position(runner, first)}'
        if local_iteration != first:
            what = (f'a loss or the weights of another process stopped '
                    f'being finite (NaN or Inf) at {where}')
        elif code < 0:
            what = ('the weights or BatchNorm statistics stopped being '
                    'finite (NaN or Inf) in the optimizer step of '
                    f'{where} (a non-finite gradient, or a learning rate '
                    'too high)')
        else:
            what = (f'{self._names[code]} was not finite (NaN or Inf) at '
                    f'{where}')
        if found_at is None:
            found_at = runner.iter + 1  # within an iteration: the current
        found = '' if found_at == first else (
            f', found at iteration {found_at}')
        raise NonFiniteTrainingError(
            f'training stopped: {what}{found}. No checkpoint was written '
            f'from such weights; {_resume_point(runner)}. Lower the '
            'learning rate, check the data for NaN/Inf, or set '
            "default_hooks.nan_guard.on_non_finite='skip' to drop such "
            'steps')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # The last word: whatever the schedule of checks, no checkpoint of
        # non-finite weights (only the main process saves: no collective).
        tensors = [
            value for value in checkpoint.get('state_dict', {}).values()
            if isinstance(value, torch.Tensor) and value.is_floating_point()
        ]
        if tensors and not bool(_all_finite(tensors)):
            raise NonFiniteTrainingError(
                'training stopped: the weights to be saved are not finite '
                f'(NaN or Inf); no checkpoint was written. '
                f'{_resume_point(runner).capitalize()}')

    def after_train(self, runner) -> None:
        if self.skipped:
            runner.logger.warning(
                f'NonFiniteGuardHook: {self.skipped} optimizer steps were '
                'skipped for a non-finite loss or gradients')


def _all_finite(tensors: List[torch.Tensor]) -> torch.Tensor:
    """Whether every value of ``tensors`` (floating point, one device) is
    finite: a 0-d bool tensor on their device, without a host sync."""
    return torch.isfinite(torch.stack(torch._foreach_norm(tensors))).all()


def _epoch_position(runner, iteration: int) -> str:
    """``' (epoch 2, batch 5 of 8)'`` for an epoch-based run."""
    if not getattr(runner.train_loop, '_max_epochs', None):
        return ''
    per_epoch = len(runner.train_dataloader)
    return (f' (epoch {(iteration - 1) // per_epoch + 1}, batch '
            f'{(iteration - 1) % per_epoch + 1} of {per_epoch})')


def _resume_point(runner) -> str:
    from mmunix.engine.runner import latest_checkpoint
    latest = latest_checkpoint(runner.work_dir)
    if latest is None:
        return 'none had been written yet'
    return f'the last good one, {latest}, is where --resume continues'
