"""configs/{fitnets,vid,crd}/: the methods with trainable loss parts, alone
and with UNIX, on resnet56 -> resnet20 and resnet32x4 -> resnet8x4."""
import glob
import math
import os.path as osp

import pytest
from conftest import REPO_ROOT, train_in_process
from mmengine import Config

from mmunix.models.backbones.cifar_resnet import ARCH_SETTINGS
from mmunix.utils import model_config

#: The benchmark's loss of each method (configs/_base_/methods/), without
#: the channel counts, which each pair's config gives.
REFERENCE_LOSSES = dict(
    fitnets=dict(
        loss_fitnets=dict(
            type='FitNetsLoss',
            stages=(1, ),
            connector=dict(type='ConvBNConnector', kernel_size=1),
            loss_weight=100.0)),
    vid=dict(
        loss_vid=dict(
            type='VIDLoss', init_pred_var=5.0, eps=1e-5, loss_weight=1.0)),
    crd=dict(
        loss_crd=dict(
            type='CRDLoss',
            num_samples=50000,
            feat_dim=128,
            num_negatives=16384,
            temperature=0.07,
            momentum=0.5,
            loss_weight=0.8)))
#: The backbones' out_indices for each method (None: the default, the last
#: stage), and the stages its loss compares (None: the embedding).
OUT_INDICES = dict(fitnets=(1, 2, 3), vid=(1, 2, 3), crd=None)
COMPARED = dict(fitnets=(2, ), vid=(1, 2, 3), crd=None)
PAIRS = ('r32x4_r8x4', 'r56_r20')
CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT) for method in REFERENCE_LOSSES
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', method, '*.py')))


def method_of(config: str) -> str:
    return config.split('/')[1]


def channels(classifier: dict, out_indices) -> tuple:
    """What a CIFAR ResNet classifier gives at ``out_indices``: its stage
    widths, or with None its embedding size."""
    if out_indices is None:
        return (classifier['head']['in_channels'], )
    widths = ARCH_SETTINGS[classifier['backbone']['arch']][1]
    return tuple(widths[index] for index in out_indices)


def test_each_method_has_a_config_alone_and_with_unix_per_pair():
    assert CONFIGS == sorted(f'configs/{method}/{method}{unix}_{pair}'
                             '_cifar100.py' for method in REFERENCE_LOSSES
                             for unix in ('', '-unix') for pair in PAIRS)


@pytest.mark.parametrize('config', CONFIGS)
def test_the_config_is_the_benchmark_recipe_on_the_kd_pair(config):
    method, name = method_of(config), osp.basename(config)
    unix = '-unix_' in name
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    kd = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'kd_' + name.split('_', 1)[1]))
    model = cfg.model.to_dict()

    # Cross-entropy weight 1 and no KD loss, as the CRD benchmark.
    assert model['kd_loss'] == dict(kd.model.kd_loss, loss_weight=0.0)
    assert model['ce_loss'] == dict(kd.model.ce_loss, loss_weight=1.0)
    losses = model['feature_losses']
    ((loss_name, loss), ) = losses.items()
    student_channels = loss.pop('student_channels')
    teacher_channels = loss.pop('teacher_channels')
    assert losses == REFERENCE_LOSSES[method]

    # The channel counts are those of the networks' compared outputs.
    out_indices = OUT_INDICES[method]
    if method == 'fitnets':
        assert tuple(out_indices[i] for i in loss['stages']) == (2, )
    for role, given in (('student', student_channels), ('teacher',
                                                        teacher_channels)):
        classifier = model_config(model[role], f'model.{role}')
        expected = given if isinstance(given, tuple) else (given, )
        assert channels(classifier, COMPARED[method]) == expected, role
        assert classifier['backbone'].get('out_indices') == out_indices

    # Everything else is the KD pair's: networks, teacher checkpoint,
    # dataset, schedule, hooks; UNIX changes the data preprocessor only.
    for key in ('teacher', 'student'):
        model[key].pop('backbone', None)
        assert model[key] == kd.model[key]
    assert model['teacher_ckpt'] == kd.model.teacher_ckpt
    rest = {
        key: value
        for key, value in cfg.to_dict().items()
        if key not in ('model', 'data_preprocessor', f'{method}_model',
                       'unix_data_preprocessor')
    }
    assert rest == {
        key: value
        for key, value in kd.to_dict().items()
        if key not in ('model', 'data_preprocessor')
    }
    assert cfg.data_preprocessor.type == ('UNIXDataPreprocessor' if unix else
                                          kd.data_preprocessor.type)
    for key, value in kd.data_preprocessor.items():
        assert key == 'type' or cfg.data_preprocessor[key] == value, key


def test_the_cifar_pipeline_keeps_the_sample_index_crd_needs():
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/crd/crd_r56_r20_cifar100.py'))
    from mmpretrain.datasets.transforms import PackInputs
    (pack, ) = [
        step for step in cfg.train_dataloader.dataset.pipeline
        if step.type == 'PackInputs'
    ]
    meta_keys = pack.get('meta_keys', PackInputs.DEFAULT_META_KEYS)
    assert 'sample_idx' in meta_keys


@pytest.mark.slow
@pytest.mark.parametrize('config', CONFIGS)
def test_the_config_trains_an_iteration_with_the_runner(
        config, tmp_path, cifar_root):
    method = method_of(config)
    # One iteration on a batch of the first 4 tiny images, a random
    # teacher; CRD's banks sized for those 4.
    settings = {
        'train_dataloader.batch_size': 4,
        'train_dataloader.dataset.indices': 4
    }
    if method == 'crd':
        settings['model.feature_losses.loss_crd.num_samples'] = 4
    runner = train_in_process(config, tmp_path, cifar_root, **settings)

    assert runner.iter == 1
    scalars = runner.message_hub.log_scalars
    for key in ('loss_ce', f'loss_{method}'):
        assert math.isfinite(scalars[f'train/{key}'].current()), key
    assert 'train/loss_kd' not in scalars
    kept = 3 if '-unix_' in config else 4
    assert runner.model.sample_counts['teacher'] == kept
    # The optimizer trains the loss's parameters with the student.
    loss = runner.model.feature_losses[f'loss_{method}']
    trained = {
        id(param)
        for group in runner.optim_wrapper.param_groups
        for param in group['params']
    }
    assert all(id(param) in trained for param in loss.parameters())


@pytest.mark.slow
def test_crd_with_too_few_memory_rows_names_num_samples(tmp_path, cifar_root):
    with pytest.raises(
            ValueError,
            match=r'CRDLoss: sample index [23] is outside the memory banks '
            r'of num_samples=2 rows; set num_samples of the CRDLoss config'):
        train_in_process(
            'configs/crd/crd_r56_r20_cifar100.py', tmp_path, cifar_root, **{
                'train_dataloader.batch_size': 4,
                'train_dataloader.dataset.indices': 4,
                'model.feature_losses.loss_crd.num_samples': 2
            })
