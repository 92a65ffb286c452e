"""configs/{dkd,pkt,rkd,nst}/: each method alone and with UNIX on the
resnet56 -> resnet20 and resnet32x4 -> resnet8x4 pairs."""
import glob
import math
import os.path as osp

import pytest
from conftest import REPO_ROOT, train_in_process
from mmengine import Config
from mmengine.hooks import Hook

#: Method directory -> the name of its loss in model.feature_losses.
METHOD_LOSSES = dict(
    dkd='loss_dkd', pkt='loss_pkt', rkd='loss_rkd', nst='loss_nst')
PAIRS = ('r56_r20', 'r32x4_r8x4')
CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT) for method in METHOD_LOSSES
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', method, '*.py')))
UNIX_CONFIGS = [config for config in CONFIGS if '-unix_' in config]
ALONE_CONFIGS = [config for config in CONFIGS if '-unix_' not in config]


def load(config: str) -> Config:
    return Config.fromfile(osp.join(REPO_ROOT, config))


def method_of(config: str) -> str:
    return osp.basename(osp.dirname(config))


def without(cfg: Config, *keys) -> dict:
    rest = cfg.to_dict()
    for key in keys:
        rest.pop(key, None)
    return rest


def test_each_method_has_a_config_alone_and_with_unix_per_pair():
    assert CONFIGS == sorted(
        f'configs/{method}/{method}{variant}_{pair}_cifar100.py'
        for method in METHOD_LOSSES for variant in ('', '-unix')
        for pair in PAIRS)


@pytest.mark.parametrize('config', UNIX_CONFIGS)
def test_the_unix_config_is_the_method_alone_with_unix(config):
    unix = load(config)
    alone = load(config.replace('-unix_', '_'))
    # Everything but the data preprocessor is the method alone's: its losses,
    # schedule, data and hooks.
    assert without(unix, 'data_preprocessor', 'unix_data_preprocessor') == \
        without(alone, 'data_preprocessor')
    assert unix.data_preprocessor.type == 'UNIXDataPreprocessor'
    assert unix.data_preprocessor.num_selected == 0.75
    assert unix.data_preprocessor.num_clean == 0.5
    for key, value in alone.data_preprocessor.items():
        if key != 'type':
            assert unix.data_preprocessor[key] == value, key


@pytest.mark.parametrize('config', ALONE_CONFIGS)
def test_the_method_alone_is_the_kd_config_with_the_reference_losses(config):
    method = method_of(config)
    pair = osp.basename(config)[len(method) + 1:]
    cfg, kd = load(config), load(f'configs/kd_{pair}')
    # The recipe (dataset, schedule, runtime, hooks) is KD's.
    assert without(cfg, 'model', f'{method}_model') == without(kd, 'model')
    model, kd_model = cfg.model.to_dict(), kd.model.to_dict()
    # The reference benchmarks train these methods with cross-entropy weight
    # 1 and no KD loss.
    assert model.pop('kd_loss') == dict(
        kd_model.pop('kd_loss'), loss_weight=0.)
    assert model.pop('ce_loss') == dict(
        kd_model.pop('ce_loss'), loss_weight=1.)
    losses = model.pop('feature_losses')
    assert 'feature_losses' not in kd_model
    expected = dict(
        dkd=dict(type='DKDLoss', beta=2.0 if pair.startswith('r56') else 8.0),
        pkt=dict(type='PKTLoss', loss_weight=30000.0),
        rkd=dict(
            type='RKDLoss',
            distance_weight=25.0,
            angle_weight=50.0,
            loss_weight=1.0),
        nst=dict(type='NSTLoss', loss_weight=50.0))[method]
    assert losses == {METHOD_LOSSES[method]: expected}
    if method == 'nst':
        # The three residual stages; index 0 is the stem.
        for role in ('teacher', 'student'):
            assert model[role].pop('backbone') == dict(out_indices=(1, 2, 3))
    assert model == kd_model


class RecordDKDWarmup(Hook):
    """Records DKDLoss's warm-up factor after each training iteration."""

    def __init__(self):
        self.factors = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        loss = runner.model.feature_losses['loss_dkd']
        self.factors.append(loss.warmup_factor())


@pytest.mark.slow
@pytest.mark.parametrize('config', CONFIGS)
def test_the_config_trains_an_iteration_with_the_runner(
        config, tmp_path, cifar_root):
    method = method_of(config)
    hooks = [RecordDKDWarmup()] if method == 'dkd' else []
    # One iteration: a batch of the first 4 tiny images, a random teacher.
    runner = train_in_process(
        config,
        tmp_path,
        cifar_root,
        hooks=hooks,
        **{
            'train_dataloader.batch_size': 4,
            'train_dataloader.dataset.indices': 4
        })

    assert runner.iter == 1
    scalars = runner.message_hub.log_scalars
    for key in ('train/loss_ce', f'train/{METHOD_LOSSES[method]}'):
        assert math.isfinite(scalars[key].current()), key
    assert 'train/loss_kd' not in scalars  # weight 0: not computed
    kept = 3 if '-unix_' in config else 4
    assert runner.model.sample_counts == dict(
        batch=4,
        student_scoring=4 if kept == 3 else 0,
        teacher=kept,
        student_train=kept)
    if method == 'dkd':
        # The first epoch of mdistiller's 20-epoch ramp.
        assert hooks[0].factors == [1 / 20]
