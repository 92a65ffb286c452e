"""Distillation configs: every pair builds and steps; tools run end to end."""
import glob
import json
import os.path as osp
import re

import pytest
import torch
from conftest import (PYTHON, REPO_ROOT, assert_ok, free_port, run_tool,
                      tiny_run_options)
from mmengine import Config
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from mmunix.engine import load_from_local_weights_only
from mmunix.registry import MODELS
from mmunix.utils import register_all_modules

DISTILL_CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT)
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', '*_cifar100.py')))


def build_distiller(config: str, teacher_ckpt=None):
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    cfg.model.teacher_ckpt = teacher_ckpt
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg, MODELS.build(cfg.model)


def test_the_matrix_is_complete():
    pairs = {
        re.match(r'configs/(kd|unix)_(.+)_cifar100\.py', c).groups()
        for c in DISTILL_CONFIGS if re.match(r'configs/(kd|unix)_', c)
    }
    assert len(pairs) == 24
    assert {p for m, p in pairs if m == 'kd'} == \
        {p for m, p in pairs if m == 'unix'}
    assert 'configs/unix_r56_r20_cifar100.py' in DISTILL_CONFIGS
    assert 'configs/at-unix_r56_r20_cifar100.py' in DISTILL_CONFIGS
    assert 'configs/sp-unix_r56_r20_cifar100.py' in DISTILL_CONFIGS


@pytest.mark.parametrize('config', DISTILL_CONFIGS)
def test_every_config_builds_and_takes_a_training_step(config):
    cfg, model = build_distiller(config)
    assert cfg.model.teacher_ckpt is None
    recipe = Config.fromfile(osp.join(REPO_ROOT, config))
    assert recipe.train_dataloader.batch_size == 64
    assert recipe.train_cfg.max_epochs == 240
    student = type(model.student.backbone).__name__
    expected_lr = 0.01 if student in ('CIFARMobileNetV2', 'CIFARShuffleNetV1',
                                      'CIFARShuffleNetV2') else 0.05
    assert recipe.optim_wrapper.optimizer.lr == expected_lr
    assert recipe.model.kd_loss.temperature == 4.0
    assert recipe.model.kd_loss.loss_weight == 1.0
    assert recipe.model.ce_loss.loss_weight == 0.0

    unix = osp.basename(config).split('_')[0].endswith('unix')
    if unix:
        assert (recipe.data_preprocessor.num_selected,
                recipe.data_preprocessor.num_clean,
                recipe.data_preprocessor.sharpness,
                recipe.data_preprocessor.scorer.type) == (0.75, 0.5, 10.0,
                                                          'EntropyScorer')
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
            for _ in range(4)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in range(4)])
    log_vars = model.train_step(data, optim)
    assert torch.isfinite(log_vars['loss'])
    assert model.sample_counts['teacher'] == (3 if unix else 4)


def distill_options(cifar_root, teacher_ckpt, max_epochs=1):
    return [
        '--cfg-options', *tiny_run_options(cifar_root),
        f'model.teacher_ckpt={teacher_ckpt}',
        f'train_cfg.max_epochs={max_epochs}', 'custom_hooks.0.interval=1'
    ]


@pytest.fixture(scope='module')
def fvcore_flops():
    """``(F_t, F_s)`` of resnet56/resnet20, measured here with fvcore."""
    from fvcore.nn import FlopCountAnalysis
    register_all_modules()
    flops = []
    for arch in ('resnet56', 'resnet20'):
        cfg = Config.fromfile(
            osp.join(REPO_ROOT, f'configs/_base_/models/cifar/{arch}.py'))
        model = MODELS.build(cfg.model).eval()
        analysis = FlopCountAnalysis(model, torch.zeros(1, 3, 32, 32))
        analysis.unsupported_ops_warnings(False)
        flops.append(analysis.total())
    return tuple(flops)


def read_report(work_dir):
    with open(osp.join(work_dir, 'compute_report.json')) as f:
        return json.load(f)


def check_report(report, batch, kept, unix, fvcore_flops):
    """The report's counts, and its ratio against the formula of
    docs/algorithm.md."""
    f_t, f_s = fvcore_flops
    assert (report['teacher_flops_per_sample'],
            report['student_flops_per_sample']) == (f_t, f_s)
    assert report['batch_samples'] == batch
    assert report['teacher_samples'] == kept
    assert report['student_train_samples'] == kept
    assert report['student_scoring_samples'] == (batch if unix else 0)
    assert report['backward_factor'] == 1.0
    if unix:
        expected = (batch * f_s + kept * (f_t + 2 * f_s)) / (
            batch * (f_t + 2 * f_s))
        assert report['compute_ratio_vs_kd'] == pytest.approx(
            expected, rel=1e-12)
    else:
        assert report['compute_ratio_vs_kd'] == 1.0
    assert report['kd_equivalent_flops'] == batch * (f_t + 2 * f_s)


@pytest.mark.slow
@pytest.mark.parametrize('method', ['kd', 'unix', 'at-unix', 'sp-unix'])
def test_train_py_distils_end_to_end(method, tmp_path, cifar_root,
                                     teacher_ckpt, fvcore_flops):
    config = f'configs/{method}_r56_r20_cifar100.py'
    result = run_tool([
        PYTHON, 'tools/train.py', config, '--work-dir',
        str(tmp_path), *distill_options(cifar_root, teacher_ckpt)
    ])
    assert_ok(result)
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][4/4]' in log
    assert 'loss_kd' in log
    if method.startswith(('at', 'sp')):
        assert f'loss_{method[:2]}' in log
    state = load_from_local_weights_only(str(tmp_path / 'epoch_1.pth'))
    assert any(k.startswith('student.') for k in state['state_dict'])
    # 16 images in 4 batches of 4; UNIX keeps 3 of each (0.75 of 4).
    unix = method.endswith('unix')
    check_report(
        read_report(tmp_path), 16, 12 if unix else 16, unix, fvcore_flops)
    assert 'Compute(train) [4]' in log


@pytest.mark.slow
def test_compute_counts_continue_after_resume_but_not_after_load_from(
        tmp_path, cifar_root, teacher_ckpt, fvcore_flops):
    config = 'configs/unix_r56_r20_cifar100.py'
    first = run_tool([
        PYTHON, 'tools/train.py', config, '--work-dir',
        str(tmp_path), *distill_options(cifar_root, teacher_ckpt)
    ])
    assert_ok(first)
    saved = load_from_local_weights_only(str(tmp_path / 'epoch_1.pth'))
    assert saved['meta']['teacher_query_counts'] == dict(
        batch=16, student_scoring=16, teacher=12, student_train=12)

    resumed = run_tool([
        PYTHON, 'tools/train.py', config, '--work-dir',
        str(tmp_path), '--resume',
        *distill_options(cifar_root, teacher_ckpt, max_epochs=2)
    ])
    assert_ok(resumed)
    check_report(read_report(tmp_path), 32, 24, True, fvcore_flops)

    # load_from fine-tunes from the weights in a new run: its report counts
    # only its own epoch.
    fine_tuned = run_tool([
        PYTHON, 'tools/train.py', config, '--work-dir',
        str(tmp_path / 'fine_tune'),
        *distill_options(cifar_root, teacher_ckpt),
        f'load_from={tmp_path / "epoch_1.pth"}'
    ])
    assert_ok(fine_tuned)
    check_report(
        read_report(tmp_path / 'fine_tune'), 16, 12, True, fvcore_flops)


@pytest.mark.slow
def test_iteration_checkpoints_carry_the_counts_up_to_their_iteration(
        tmp_path, cifar_root, teacher_ckpt):
    # 4 iterations an epoch, 2 epochs; checkpoints after iterations 1, 4 and
    # 7 (save_begin=1), none of which is a logging point of the hook.
    result = run_tool([
        PYTHON, 'tools/train.py', 'configs/unix_r56_r20_cifar100.py',
        '--work-dir',
        str(tmp_path),
        *distill_options(cifar_root, teacher_ckpt, max_epochs=2),
        'custom_hooks.0.interval=50',
        'default_hooks.checkpoint.by_epoch=False',
        'default_hooks.checkpoint.interval=3',
        'default_hooks.checkpoint.save_begin=1',
        'default_hooks.checkpoint.save_last=False'
    ])
    assert_ok(result)
    for iteration in (1, 4, 7):
        saved = load_from_local_weights_only(
            str(tmp_path / f'iter_{iteration}.pth'))
        assert saved['meta']['teacher_query_counts'] == dict(
            batch=4 * iteration,
            student_scoring=4 * iteration,
            teacher=3 * iteration,
            student_train=3 * iteration)


@pytest.mark.slow
@pytest.mark.parametrize('method', ['kd', 'unix'])
def test_dist_train_distils_with_two_processes(method, tmp_path, cifar_root,
                                               teacher_ckpt, fvcore_flops):
    result = run_tool([
        'bash', 'tools/dist_train.sh', f'configs/{method}_r56_r20_cifar100.py',
        '2', '--work-dir',
        str(tmp_path), *distill_options(cifar_root, teacher_ckpt)
    ],
                      env_extra={'PORT': str(free_port())})
    assert_ok(result)
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log
    assert 'Epoch(train) [1][2/2]' in log
    # Two ranks, two batches of 4 each: the report sums both ranks.
    unix = method == 'unix'
    check_report(
        read_report(tmp_path), 16, 12 if unix else 16, unix, fvcore_flops)
    assert log.count('TeacherQueryHook: wrote') == 1
