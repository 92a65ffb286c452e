"""The restated MMEngine rules of mmunix/engine/hooks/utils.py agree with what
LoggerHook and CheckpointHook do in a real run."""
import pytest
from conftest import train_in_process
from mmengine.hooks import Hook

from mmunix.engine.hooks.utils import (logs_after_train_iter,
                                       saves_after_train_iter)


class Predict(Hook):
    """Before each iteration: what the rules predict for it.

    It also
    watches the runner's log processor and checkpoint saving, so that
    :class:`Record` can say what happened.
    """
    priority = 'HIGHEST'

    def __init__(self):
        self.predicted, self.now = [], {}

    def before_train(self, runner):
        get_log, save = (runner.log_processor.get_log_after_iter,
                         runner.save_checkpoint)

        def logging(*args, **kwargs):
            self.now['log'] = True
            return get_log(*args, **kwargs)

        def saving(*args, **kwargs):
            self.now['save'] = True
            return save(*args, **kwargs)

        runner.log_processor.get_log_after_iter = logging
        runner.save_checkpoint = saving

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.predicted.append(
            dict(
                log=logs_after_train_iter(runner, batch_idx),
                save=saves_after_train_iter(runner)))
        self.now = dict(log=False, save=False)


class Record(Hook):
    """After every other hook of an iteration: what happened in it."""
    priority = 'LOWEST'

    def __init__(self, predict: Predict):
        self.predict, self.happened = predict, []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.happened.append(dict(self.predict.now))


@pytest.mark.parametrize('logger,checkpoint', [
    (dict(interval=3), dict(by_epoch=False, interval=3, save_begin=2)),
    (dict(interval=3, ignore_last=False), dict(by_epoch=False, interval=5)),
    (dict(interval=10), dict(by_epoch=True, interval=1)),
])
def test_rules_predict_mmengines_logging_and_saving(logger, checkpoint,
                                                    tmp_path, cifar_root):
    predict = Predict()
    record = Record(predict)
    train_in_process(
        'configs/kd_r56_r20_cifar100.py', tmp_path, cifar_root,
        [predict, record], **{
            'train_cfg.max_epochs':
            2,
            'default_hooks.logger':
            dict(type='LoggerHook', **logger),
            'default_hooks.checkpoint':
            dict(type='CheckpointHook', save_best=None, **checkpoint),
        })
    # Two epochs of 8 iterations.
    assert len(predict.predicted) == len(record.happened) == 16
    assert predict.predicted == record.happened
    assert any(step['log'] for step in record.happened)
