"""NonFiniteGuardHook: a NaN or Inf stops the run at its iteration, names
the loss, and leaves the last good checkpoint as the resume point; 'skip'
drops such steps and trains on."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from conftest import train_in_process
from mmengine.hooks import Hook

from mmunix.engine.hooks import NonFiniteGuardHook
from mmunix.engine.hooks.non_finite_guard_hook import NonFiniteTrainingError

UNIX = 'configs/unix_r56_r20_cifar100.py'
#: Two epochs of 8 iterations, a checkpoint after each.
TWO_EPOCHS = {
    'train_cfg.max_epochs':
    2,
    'default_hooks.checkpoint':
    dict(type='CheckpointHook', interval=1, save_best=None),
}
STOP_HINT = ('Lower the learning rate, check the data for NaN/Inf, or set '
             "default_hooks.nan_guard.on_non_finite='skip' to drop such "
             'steps')


class NonFiniteImageAt(Hook):
    """Puts ``value`` into the first image of the batches of the given
    iterations (1-based), as a corrupt image would after decoding."""
    priority = 'VERY_HIGH'

    def __init__(self, *iterations, value=float('nan')):
        self.iterations, self.value = iterations, value

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 in self.iterations:
            inputs = data_batch['inputs'].float()
            inputs[0, 1, 5, 7] = self.value
            data_batch['inputs'] = inputs


class InfiniteLearningRateAt(Hook):
    """Makes the optimizer step of one iteration (1-based) send the weights to
    Inf/NaN while that iteration's losses are still finite."""
    priority = 'VERY_HIGH'

    def __init__(self, iteration):
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.iteration:
            for group in runner.optim_wrapper.optimizer.param_groups:
                group['lr'] = float('inf')


def all_finite(checkpoint_path) -> bool:
    state = torch.load(checkpoint_path, weights_only=True)['state_dict']
    return all(
        torch.isfinite(value).all() for value in state.values()
        if value.is_floating_point())


# Log interval 1 reads the record on every (logging) iteration; 100 leaves
# it to the copy that reaches the host without a sync.
@pytest.mark.parametrize('log_interval', [1, 100])
@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_a_non_finite_image_stops_the_run_at_its_iteration(
        tmp_path, cifar_root, log_interval, value):
    with pytest.raises(NonFiniteTrainingError) as error:
        train_in_process(
            UNIX,
            tmp_path,
            cifar_root,
            hooks=[NonFiniteImageAt(11, value=value)],
            **TWO_EPOCHS,
            **{'default_hooks.logger.interval': log_interval})

    assert str(error.value) == (
        'training stopped: loss_kd was not finite (NaN or Inf) at iteration '
        '11 (epoch 2, batch 3 of 8). No checkpoint was written from such '
        f'weights; the last good one, {tmp_path}/epoch_1.pth, is where '
        f'--resume continues. {STOP_HINT}')
    assert not osp.exists(tmp_path / 'epoch_2.pth')
    assert all_finite(tmp_path / 'epoch_1.pth')
    assert (tmp_path / 'last_checkpoint').read_text().strip() == str(
        tmp_path / 'epoch_1.pth')


def test_weights_that_stop_being_finite_are_named(tmp_path, cifar_root):
    with pytest.raises(
            NonFiniteTrainingError,
            match=r'^training stopped: the weights or BatchNorm statistics '
            r'stopped being finite \(NaN or Inf\) in the optimizer step of '
            r'iteration 3 \(epoch 1, batch 3 of 8\) \(a non-finite '
            r'gradient, or a learning rate too high\)\. No checkpoint was '
            r'written from such weights; none had been written yet\.'):
        train_in_process(
            UNIX,
            tmp_path,
            cifar_root,
            hooks=[InfiniteLearningRateAt(3)],
            **TWO_EPOCHS)
    assert not osp.exists(tmp_path / 'epoch_1.pth')


def test_skip_drops_the_steps_counts_them_and_trains_on(tmp_path, cifar_root):
    runner = train_in_process(
        UNIX,
        tmp_path,
        cifar_root,
        hooks=[NonFiniteImageAt(3, 12)],
        **TWO_EPOCHS,
        **{'default_hooks.nan_guard.on_non_finite': 'skip'})

    guard, = [h for h in runner.hooks if isinstance(h, NonFiniteGuardHook)]
    assert guard.skipped == 2
    assert runner.iter == 16
    assert all_finite(tmp_path / 'epoch_1.pth')
    assert all_finite(tmp_path / 'epoch_2.pth')


def test_a_skipped_step_leaves_weights_and_statistics_as_they_were(
        tmp_path, cifar_root):

    class Snapshots(Hook):
        priority = 'LOWEST'
        states = {}

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            # runner.iter counts the iterations before this one.
            self.states[runner.iter + 1] = {
                key: value.clone()
                for key, value in runner.model.student.state_dict().items()
            }

    snapshots = Snapshots()
    train_in_process(
        UNIX,
        tmp_path,
        cifar_root,
        hooks=[NonFiniteImageAt(3), snapshots],
        **{'default_hooks.nan_guard.on_non_finite': 'skip'})

    before, skipped, after = (snapshots.states[i] for i in (2, 3, 4))
    for key, value in before.items():
        if key.endswith('num_batches_tracked'):
            continue  # counts forward passes, not statistics
        assert torch.equal(skipped[key], value), key
    assert not all(torch.equal(after[key], before[key]) for key in before)


def test_a_checkpoint_of_non_finite_weights_is_never_saved(tmp_path):
    guard = NonFiniteGuardHook()
    runner = SimpleNamespace(work_dir=str(tmp_path))
    checkpoint = {'state_dict': {'w': torch.tensor([1.0, float('nan')])}}
    with pytest.raises(
            NonFiniteTrainingError,
            match='^training stopped: the weights to be saved are not finite '
            r'\(NaN or Inf\); no checkpoint was written\. None had been '
            'written yet$'):
        guard.before_save_checkpoint(runner, checkpoint)
    guard.before_save_checkpoint(runner, {'state_dict': {
        'w': torch.ones(2)
    }})  # finite: saved


def test_an_unknown_action_names_the_key():
    with pytest.raises(
            ValueError,
            match=r"default_hooks.nan_guard.on_non_finite='ignore' must be "
            r"one of \('stop', 'skip'\)"):
        NonFiniteGuardHook(on_non_finite='ignore')


def test_found_at_the_end_of_the_epoch_names_the_right_iteration(
        tmp_path, cifar_root):
    # Under DDP the record is read only where values are read anyway; the
    # end of the epoch is one such place, after runner.iter has advanced.

    class CollectiveChecksOnly(Hook):
        priority = 'LOWEST'

        def before_train(self, runner):
            guard, = [
                h for h in runner.hooks if isinstance(h, NonFiniteGuardHook)
            ]
            guard._on_host = None

    with pytest.raises(NonFiniteTrainingError) as error:
        train_in_process(
            UNIX,
            tmp_path,
            cifar_root,
            hooks=[NonFiniteImageAt(7),
                   CollectiveChecksOnly()],
            **TWO_EPOCHS,
            **{'default_hooks.logger.interval': 100})
    assert str(error.value).startswith(
        'training stopped: loss_kd was not finite (NaN or Inf) at iteration '
        '7 (epoch 1, batch 7 of 8), found at iteration 8. No checkpoint')
    assert not osp.exists(tmp_path / 'epoch_1.pth')
