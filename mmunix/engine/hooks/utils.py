"""What mmunix's hooks share."""
from typing import Optional

from mmengine.hooks import CheckpointHook, Hook, LoggerHook
from mmengine.model import is_model_wrapper


def get_distiller(runner, hook_name: str, *attributes: str):
    """The runner's model, unwrapped, checked to report ``attributes``.

    Args:
        runner (Runner): The runner the hook is registered in.
        hook_name (str): Named in the error, e.g. ``'TeacherQueryHook'``.
        *attributes (str): What the hook reads from the model, e.g.
            ``'sample_counts'``.

    Raises:
        TypeError: The model is not a distiller that reports them.
    """
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    missing = [name for name in attributes if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f'{hook_name} needs a distiller that reports '
            f'{" and ".join(attributes)} (e.g. ClassificationDistiller), got '
            f'{type(model).__name__}; remove the hook from custom_hooks for '
            'other models')
    return model


def find_hook(runner, hook_type: type) -> Optional[Hook]:
    """The first hook of ``hook_type`` registered in ``runner``, if any."""
    return next((hook for hook in runner.hooks if isinstance(hook, hook_type)),
                None)


def logs_after_train_iter(runner, batch_idx: int) -> bool:
    """Whether MMEngine's ``LoggerHook`` writes a training line after the
    iteration ``batch_idx`` of the epoch (its own rule, restated)."""
    logger = find_hook(runner, LoggerHook)
    if logger is None:
        return False
    if logger.every_n_inner_iters(batch_idx, logger.interval):
        return True
    return logger.end_of_epoch(runner.train_dataloader,
                               batch_idx) and (not logger.ignore_last or len(
                                   runner.train_dataloader) <= logger.interval)


def saves_after_train_iter(runner) -> bool:
    """Whether MMEngine's ``CheckpointHook`` saves an iteration checkpoint
    after the current training iteration (its own rule, restated)."""
    hook = find_hook(runner, CheckpointHook)
    if hook is None or hook.by_epoch:
        return False
    return hook.every_n_train_iters(runner, hook.interval, hook.save_begin) \
        or (hook.save_last and hook.is_last_train_iter(runner))


def syncs_after_train_iter(runner, batch_idx: int) -> bool:
    """Whether a hook reads device values on the host after the current
    training iteration, so that the host then waits for the device.

    True where a checkpoint is saved, and where a registered hook with a
    ``syncs_after_train_iter(runner, batch_idx)`` method says so
    (:class:`DeferredRuntimeInfoHook` on logging iterations,
    :class:`TeacherQueryHook` where it sums its counts over processes).
    Call it before the iteration runs.
    """
    return saves_after_train_iter(runner) or any(
        hook.syncs_after_train_iter(runner, batch_idx) for hook in runner.hooks
        if callable(getattr(hook, 'syncs_after_train_iter', None)))
