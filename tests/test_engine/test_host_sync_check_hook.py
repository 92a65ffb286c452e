"""Training iterations that neither log nor save read nothing on the host."""
import pytest
import torch
from conftest import (PYTHON, assert_ok, run_tool, tiny_run_options,
                      train_in_process)
from mmengine.hooks import Hook

from mmunix.engine import HostSyncCheckHook
from mmunix.utils.host_sync import (SYNCING_TENSOR_METHODS, HostSyncError,
                                    TensorSyncTrap)

#: One epoch of 16 tiny images in batches of 2; logs after iterations 4, 8.
ITERS, LOG_INTERVAL = 8, 4
DEVICE_AUGMENT = {
    'data_preprocessor.train_augment': dict(type='BatchRandomCropFlip'),
    'train_dataloader.dataset.pipeline': [dict(type='PackInputs')],
}
RUNS = {
    'kd': ('configs/kd_r56_r20_cifar100.py', {}),
    'unix': ('configs/unix_r56_r20_cifar100.py', {}),
    'unix-device-augment':
    ('configs/unix_r56_r20_cifar100.py', DEVICE_AUGMENT),
    'at-unix': ('configs/at-unix_r56_r20_cifar100.py', {}),
}


class CountHostReads(Hook):
    """Counts, per training iteration, the tensor reads on the host from the
    first ``before_train_iter`` hook to the last ``after_train_iter`` one."""

    def __init__(self):
        self.calls = []

    def before_train(self, runner):
        loop = runner.train_loop
        run_iter = loop.run_iter

        def counted(*args, **kwargs):
            with TensorSyncTrap() as trap:
                run_iter(*args, **kwargs)
            self.calls.append(trap.calls)

        loop.run_iter = counted


class ReadLossOnHost(Hook):
    """``outputs['loss'].item()`` after the iterations in ``iterations``
    (1-based), as a careless hook would."""

    def __init__(self, iterations):
        self.iterations = set(iterations)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 in self.iterations:
            outputs['loss'].item()


def train(name, work_dir, cifar_root, hooks, **extra_settings):
    config, settings = RUNS[name]
    return train_in_process(
        config, work_dir, cifar_root, hooks, **{
            'default_hooks.logger.interval':
            LOG_INTERVAL,
            'custom_hooks': [
                dict(type='TeacherQueryHook', interval=LOG_INTERVAL),
                *([dict(type='HardSampleHook')] if 'unix' in name else [])
            ],
            **settings,
            **extra_settings
        })


@pytest.mark.parametrize('name', sorted(RUNS))
def test_only_logging_iterations_read_tensors_on_the_host(
        name, tmp_path, cifar_root):
    counter = CountHostReads()
    train(name, tmp_path, cifar_root, [counter])
    assert len(counter.calls) == ITERS
    for iteration, calls in enumerate(counter.calls, 1):
        if iteration % LOG_INTERVAL:
            assert calls == [], f'iteration {iteration}'
        else:  # the losses for the log line, the summed teacher counts
            assert calls, f'iteration {iteration}'
    assert set(vars(torch.Tensor)).isdisjoint(SYNCING_TENSOR_METHODS)


def test_hook_passes_a_unix_run_and_says_what_it_checked(tmp_path, cifar_root):
    hook = HostSyncCheckHook(warmup=1)
    train('unix', tmp_path, cifar_root, [hook])
    # Iteration 1 is warm-up; 4 and 8 log.
    assert (hook.checked, hook.skipped) == (5, 3)


def test_hook_skips_the_first_batch_of_each_size(tmp_path, cifar_root):
    # 16 images in batches of 3: five of 3, then the short last one of 1.
    hook = HostSyncCheckHook(warmup=0)
    train('unix', tmp_path, cifar_root, [hook],
          **{'train_dataloader.batch_size': 3})
    # Skipped: iteration 1 (first of size 3), 4 (logs), 6 (first of size 1).
    assert (hook.checked, hook.skipped) == (3, 3)


def test_hook_names_a_host_read_in_an_ordinary_iteration(tmp_path, cifar_root):
    with pytest.raises(
            HostSyncError, match='Tensor.item at .*in '
            'after_train_iter'):
        train('kd', tmp_path, cifar_root,
              [HostSyncCheckHook(warmup=2),
               ReadLossOnHost([3])])
    assert set(vars(torch.Tensor)).isdisjoint(SYNCING_TENSOR_METHODS)


def test_hook_allows_host_reads_in_warm_up_and_logging_iterations(
        tmp_path, cifar_root):
    hook = HostSyncCheckHook(warmup=2)
    train('kd', tmp_path, cifar_root, [hook, ReadLossOnHost([1, 2, 4, 8])])
    assert (hook.checked, hook.skipped) == (4, 4)


@pytest.mark.slow
def test_a_resumed_run_warms_up_again(tmp_path, cifar_root):
    checkpoint = dict(type='CheckpointHook', interval=1, save_best=None)
    train('kd', tmp_path, cifar_root, [],
          **{'default_hooks.checkpoint': checkpoint})
    # The resumed process reads on the host in its first two iterations
    # (9 and 10 of the run), as DDP does once per process when it rebuilds
    # its gradient buckets.
    hook = HostSyncCheckHook(warmup=2)
    train(
        'kd', tmp_path, cifar_root, [hook, ReadLossOnHost([9, 10])], **{
            'default_hooks.checkpoint': checkpoint,
            'train_cfg.max_epochs': 2,
            'resume': True,
            'load_from': str(tmp_path / 'epoch_1.pth')
        })
    # Skipped: 9 and 10 (warm-up), 12 and 16 (log); 16 also ends training.
    assert (hook.checked, hook.skipped) == (4, 4)


def test_optimizer_settings_that_always_sync_are_refused_by_key(
        tmp_path, cifar_root):
    with pytest.raises(ValueError, match='optim_wrapper.clip_grad'):
        train('kd', tmp_path, cifar_root, [HostSyncCheckHook()],
              **{'optim_wrapper.clip_grad': dict(max_norm=1.0)})


@pytest.mark.parametrize('warmup', [-1, 1.5, True])
def test_a_bad_warmup_is_refused_with_its_value(warmup):
    with pytest.raises(ValueError, match=f'warmup={warmup!r}'):
        HostSyncCheckHook(warmup=warmup)


@pytest.mark.slow
def test_train_py_sync_debug_checks_the_ordinary_iterations(
        tmp_path, cifar_root, teacher_ckpt):
    result = run_tool([
        PYTHON, 'tools/train.py', 'configs/unix_r56_r20_cifar100.py',
        '--work-dir',
        str(tmp_path), '--sync-debug', '--cfg-options',
        *tiny_run_options(cifar_root), f'model.teacher_ckpt={teacher_ckpt}',
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=100',
        'custom_hooks.1.warmup=0'
    ])
    assert_ok(result)
    # 4 iterations: the first is the first batch of its size, the last one
    # logs (end of the epoch).
    assert 'HostSyncCheckHook: 2 training iterations ran without a host ' \
        'sync; 2 were not checked' in result.stdout + result.stderr
