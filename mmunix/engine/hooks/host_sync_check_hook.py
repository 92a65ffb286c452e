"""Fail a run at the first host sync inside an ordinary training iteration."""
import functools

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from mmunix.registry import HOOKS
from mmunix.utils.host_sync import forbid_host_syncs
from .utils import syncs_after_train_iter


@HOOKS.register_module()
class HostSyncCheckHook(Hook):
    """Raise at the first host sync in a training iteration that neither
    logs nor saves a checkpoint.

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

    Args:
        warmup (int): Iterations of the run to leave unchecked. Defaults to
            10.
    """

    def __init__(self, warmup: int = 10):
        if isinstance(warmup, bool) or not isinstance(warmup, int) \
                or warmup < 0:
            raise ValueError(f'HostSyncCheckHook: warmup={warmup!r} must be '
                             'an int >= 0')
        self.warmup = warmup
        self.checked = 0
        self.skipped = 0

    def before_train(self, runner) -> None:
        # The check must close even when the iteration raises, which a pair
        # of before/after hooks cannot guarantee: wrap the loop's run_iter.
        loop = runner.train_loop
        run_iter = loop.run_iter
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        device_type = next(model.parameters()).device.type

        batch_sizes = set()

        @functools.wraps(run_iter)
        def checked_run_iter(*args, **kwargs):
            if isinstance(loop, EpochBasedTrainLoop):
                batch_idx, data_batch = args[:2]
            else:
                batch_idx, data_batch = runner.iter, args[0]
            # cuDNN autotunes each new batch shape, waiting for the device.
            inputs = data_batch.get('inputs') if isinstance(
                data_batch, dict) else None
            batch_size = None if inputs is None else len(inputs)
            new_shape = batch_size not in batch_sizes
            batch_sizes.add(batch_size)
            if new_shape or runner.iter < self.warmup or \
                    syncs_after_train_iter(runner, batch_idx):
                self.skipped += 1
                return run_iter(*args, **kwargs)
            with forbid_host_syncs(device_type):
                result = run_iter(*args, **kwargs)
            self.checked += 1
            return result

        loop.run_iter = checked_run_iter

    def after_train(self, runner) -> None:
        # Back to the class's method.
        vars(runner.train_loop).pop('run_iter', None)
        runner.logger.info(
            f'HostSyncCheckHook: {self.checked} training iterations ran '
            f'without a host sync; {self.skipped} were not checked (warm-up, '
            'new batch sizes, logging or checkpoints)')
