"""Fail a run at the first host sync inside an ordinary training iteration."""
import functools

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from mmunix.registry import HOOKS
from mmunix.utils.host_sync import forbid_host_syncs
from .utils import syncs_after_train_iter


@HOOKS.register_module()
class HostSyncCheckHook(Hook):
    """Raise at the first host sync in a training iteration that neither logs
    nor saves a checkpoint.

    A training iteration that reads no device value on the host lets the GPU
    run while Python prepares the next one. This hook checks that: after
    ``warmup`` iterations (lazy initialisation), each iteration from
    ``before_train_iter`` to the last ``after_train_iter`` hook runs under
    :func:`mmunix.utils.host_sync.forbid_host_syncs`:
    ``torch.cuda.set_sync_debug_mode('error')`` on CUDA, a trap on the
    tensor methods that read values on the host elsewhere. The error names
    the call.

    Iterations where a hook reads device values on purpose (logging,
    summing counts over processes, checkpoints; see
    :func:`mmunix.engine.hooks.utils.syncs_after_train_iter`) are not
    checked, nor the first batch of each size (the short last batch of an
    epoch), for which cuDNN's autotuning waits for the device.

    ``tools/train.py --sync-debug`` adds it. Data loading between
    iterations is not checked.

    Optimizer settings that read a value on the host in every step are
    refused before training: float16 AMP with a loss scale and an optimizer
    that is not fused, and ``clip_grad`` by norm.

    Args:
        warmup (int): Iterations of this process to leave unchecked, also
            after ``--resume``. Defaults to 10.
    """

    def __init__(self, warmup: int = 10):
        if isinstance(warmup, bool) or not isinstance(warmup, int) \
                or warmup < 0:
            raise ValueError(f'HostSyncCheckHook: warmup={warmup!r} must be '
                             'an int >= 0')
        self.warmup = warmup
        self.checked = 0
        self.skipped = 0
        self._run_iter = None

    def before_train(self, runner) -> None:
        _refuse_syncing_optim_wrapper(runner.optim_wrapper)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        device_type = next(model.parameters()).device.type
        loop = runner.train_loop
        # EpochBasedTrainLoop.run_iter(idx, data_batch), but
        # IterBasedTrainLoop.run_iter(data_batch) with the iteration as idx.
        by_epoch = isinstance(loop, EpochBasedTrainLoop)
        run_iter = self._run_iter = loop.run_iter
        batch_sizes = set()
        ran = 0  # in this process: a resumed run also warms up again

        # The check must close even when the iteration raises, which a pair
        # of before/after hooks cannot guarantee: wrap the loop's run_iter.
        @functools.wraps(run_iter)
        def checked_run_iter(*args, **kwargs):
            nonlocal ran
            batch_idx, data_batch = args[:2] if by_epoch else (runner.iter,
                                                               args[0])
            # cuDNN autotunes each new batch shape, waiting for the device.
            inputs = data_batch.get('inputs') if isinstance(data_batch,
                                                            dict) else None
            batch_size = None if inputs is None else len(inputs)
            new_shape = batch_size not in batch_sizes
            batch_sizes.add(batch_size)
            ran += 1
            if new_shape or ran <= self.warmup or syncs_after_train_iter(
                    runner, batch_idx):
                self.skipped += 1
                return run_iter(*args, **kwargs)
            with forbid_host_syncs(device_type):
                result = run_iter(*args, **kwargs)
            self.checked += 1
            return result

        loop.run_iter = checked_run_iter

    def after_train(self, runner) -> None:
        runner.train_loop.run_iter = self._run_iter
        runner.logger.info(
            f'HostSyncCheckHook: {self.checked} training iterations ran '
            f'without a host sync; {self.skipped} were not checked (warm-up, '
            'new batch sizes, logging or checkpoints)')


def _refuse_syncing_optim_wrapper(optim_wrapper) -> None:
    """Refuse optimizer settings that read a value on the host every step,
    naming the key, before the first iteration fails on it."""
    scaler = getattr(optim_wrapper, 'loss_scaler', None)
    if scaler is not None and scaler.is_enabled() and not getattr(
            optim_wrapper.optimizer, '_step_supports_amp_scaling', False):
        raise ValueError(
            '--sync-debug: optim_wrapper.loss_scale (float16 AMP) makes '
            "PyTorch's GradScaler read its inf check on the host every "
            'step; set optim_wrapper.optimizer.fused=True (the check then '
            "stays on the device), or use dtype='bfloat16' with "
            'loss_scale=dict(enabled=False)')
    if getattr(optim_wrapper, 'clip_func',
               None) is torch.nn.utils.clip_grad_norm_:
        raise ValueError(
            '--sync-debug: optim_wrapper.clip_grad (type norm) logs the '
            'gradient norm with float() every step, a host sync; drop it or '
            "use type='value'")
