"""DeferredRuntimeInfoHook: RuntimeInfoHook's records, without a sync per
iteration."""
import types

import numpy as np
import pytest
import torch
from conftest import train_in_process
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.runner import Runner

from mmunix.engine import DeferredRuntimeInfoHook
from mmunix.registry import HOOKS

#: 16 tiny images in batches of 2: 8 iterations, a log line every 3.
ITERS, LOG_INTERVAL = 8, 3


class HubProbe(Hook):
    """After each iteration, how many ``train/loss`` values the message hub
    holds."""
    priority = 'LOWEST'

    def __init__(self):
        self.sizes = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        history = runner.message_hub.log_scalars.get('train/loss')
        self.sizes.append(0 if history is None else len(history.data[0]))


def train_kd(work_dir, cifar_root, hooks=(), **settings) -> Runner:
    return train_in_process(
        'configs/kd_r56_r20_cifar100.py', work_dir, cifar_root, hooks, **{
            'default_hooks.logger.interval': LOG_INTERVAL,
            **settings
        })


def history(runner, key: str) -> tuple:
    values, counts = runner.message_hub.get_scalar(key).data
    return values.tolist(), counts.tolist()


def test_is_registered_and_replaces_mmengines_hook_in_the_runtime():
    assert HOOKS.get('DeferredRuntimeInfoHook') is DeferredRuntimeInfoHook


def test_message_hub_holds_what_runtime_info_hook_records(
        tmp_path, cifar_root):
    ours = train_kd(tmp_path / 'ours', cifar_root)
    mmengine = train_kd(
        tmp_path / 'mmengine', cifar_root,
        **{'default_hooks.runtime_info.type': 'RuntimeInfoHook'})
    for key in ('train/loss', 'train/loss_kd'):
        values, counts = history(ours, key)
        assert len(values) == ITERS and counts == [1] * ITERS
        assert (values, counts) == history(mmengine, key)


def test_values_reach_the_hub_only_on_logging_iterations(tmp_path, cifar_root):
    probe = HubProbe()
    runner = train_kd(tmp_path, cifar_root, [probe])
    # LoggerHook writes after iterations 3 and 6 (not after the epoch's
    # short rest: ignore_last); the rest reaches the hub after training.
    assert probe.sizes == [0, 0, 3, 3, 3, 6, 6, 6]
    assert len(runner.message_hub.get_scalar('train/loss').data[0]) == 8


def test_a_checkpoint_between_log_lines_stores_every_value(
        tmp_path, cifar_root):
    train_kd(
        tmp_path, cifar_root, **{
            'default_hooks.checkpoint':
            dict(
                type='CheckpointHook',
                by_epoch=False,
                interval=2,
                max_keep_ckpts=-1,
                save_best=None)
        })
    for iteration in (2, 4, 8):
        checkpoint = torch.load(
            tmp_path / f'iter_{iteration}.pth', weights_only=True)
        buffer = checkpoint['message_hub']['log_scalars']['train/loss']
        values, counts = buffer.data
        assert len(values) == iteration
        assert np.isfinite(values).all()


def test_an_output_that_is_no_scalar_is_named_at_its_iteration():
    hook = DeferredRuntimeInfoHook()
    runner = types.SimpleNamespace(hooks=[])
    with pytest.raises(ValueError, match="'acc' has shape \\(2,\\)"):
        hook.after_train_iter(
            runner, 0, outputs=dict(loss=torch.tensor(1.), acc=torch.ones(2)))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_flush_records_every_value_in_iteration_order(dtype):
    hook = DeferredRuntimeInfoHook()
    hook._pending = [
        dict(loss=torch.tensor(1.25, dtype=dtype), acc=3, n=torch.tensor(7)),
        dict(
            loss=torch.tensor([0.5], dtype=dtype), acc=4.5, n=torch.tensor(2)),
    ]
    hub = MessageHub(f'flush_{dtype}')
    hook.flush(types.SimpleNamespace(message_hub=hub))
    assert hook._pending == []
    for key, expected in (('loss', [1.25,
                                    0.5]), ('acc', [3, 4.5]), ('n', [7, 2])):
        values, counts = hub.get_scalar(f'train/{key}').data
        assert values.tolist() == expected and counts.tolist() == [1, 1]
