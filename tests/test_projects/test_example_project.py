"""Tests for ``projects/example_project``: a downstream package extends mmunix.

The in-process tests import ``unix_extras`` the way a user's config does and
remove its registrations afterwards, so other tests still see only mmunix's own
scorers and losses. The end-to-end tests run the documented config with
``tools/train.py`` in a subprocess, with ``PYTHONPATH`` set as the project's
README says.
"""
import glob
import importlib
import math
import os.path as osp
import sys

import pytest
import torch
from conftest import PYTHON, REPO_ROOT, assert_ok, run_tool, tiny_run_options
from mmengine import Config

from mmunix.models.scorers import (EntropyScorer, build_scorer,
                                   registered_scorer_names)
from mmunix.registry import MODELS, TASK_UTILS
from mmunix.utils import register_all_modules

PROJECT = osp.join(REPO_ROOT, 'projects', 'example_project')
CONFIG = 'projects/example_project/configs/unix_energy_r56_r20_cifar100.py'


@pytest.fixture(scope='module')
def extras():
    """``unix_extras``, imported from the project folder; its registrations,
    the module and the path entry are removed after this module's tests."""
    sys.path.insert(0, PROJECT)
    module = importlib.import_module('unix_extras')
    yield module
    TASK_UTILS.module_dict.pop('EnergyScorer', None)
    MODELS.module_dict.pop('CosineKDLoss', None)
    for name in [n for n in sys.modules if n.split('.')[0] == 'unix_extras']:
        del sys.modules[name]
    sys.path.remove(PROJECT)


def run_example(work_dir, *options):
    """``tools/train.py`` on the example config, as the README runs it."""
    return run_tool([
        PYTHON, 'tools/train.py', CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', *options
    ],
                    env_extra={'PYTHONPATH': PROJECT})


# ---------------------------------------------------------- EnergyScorer ---
def test_energy_is_minus_t_logsumexp_of_the_logits(extras):
    logits = torch.tensor([[0., 0.], [math.log(3), 0.], [0., -math.inf]])
    torch.testing.assert_close(extras.EnergyScorer()(logits),
                               torch.tensor([-math.log(2), -math.log(4), 0.]))
    # T = 2 on logits doubled: -2 * log(3 + 1).
    torch.testing.assert_close(
        extras.EnergyScorer(temperature=2)(torch.tensor([[2 * math.log(3),
                                                          0.]])),
        torch.tensor([-2 * math.log(4)]))


def test_energy_ranks_weak_logits_as_uncertain_where_entropy_ties(extras):
    # Same softmax, so the same entropy; the second sample's logits are 5
    # lower, so its energy is 5 higher.
    logits = torch.tensor([[2., 1., 0.], [-3., -4., -5.]])
    entropy = EntropyScorer()(logits)
    torch.testing.assert_close(entropy[0], entropy[1])
    energy = extras.EnergyScorer()(logits)
    torch.testing.assert_close(energy[1] - energy[0], torch.tensor(5.))


def test_energy_tends_to_minus_the_top_logit_at_low_temperature(extras):
    logits = torch.tensor([[3., 1., -2.], [0.5, 0.4, 0.]])
    torch.testing.assert_close(
        extras.EnergyScorer(temperature=1e-3)(logits),
        torch.tensor([-3., -0.5]),
        atol=1e-3,
        rtol=0)


def test_energy_keeps_the_scorer_contract(extras):
    logits = torch.randn(5, 10, dtype=torch.float64, requires_grad=True)
    scores = extras.EnergyScorer()(logits)
    assert scores.shape == (5, )
    assert scores.dtype == torch.float64
    assert not scores.requires_grad  # BaseScorer.__call__ runs no_grad
    with pytest.raises(ValueError, match=r'expects logits of shape \(N, C\)'):
        extras.EnergyScorer()(torch.zeros(2, 3, 4))


@pytest.mark.parametrize('temperature', [0, -1.0, True, '1'])
def test_energy_refuses_a_bad_temperature_naming_the_key(extras, temperature):
    with pytest.raises(
            ValueError,
            match=r'model\.data_preprocessor\.scorer\.temperature=.* must '
            'be a positive number'):
        extras.EnergyScorer(temperature=temperature)


# ---------------------------------------------------------- CosineKDLoss ---
def test_cosine_kd_of_logits_is_the_mean_cosine_distance(extras):
    # Orthogonal, same direction, opposite: distances 1, 0, 2, mean 1.
    student = torch.tensor([[1., 0.], [1., 0.], [1., 0.]])
    teacher = torch.tensor([[0., 1.], [2., 0.], [-1., 0.]])
    assert extras.CosineKDLoss()(student, teacher).item() == 1.0
    assert extras.CosineKDLoss(loss_weight=0.5)(student, teacher).item() == 0.5


def test_cosine_kd_of_stage_features_sums_the_stage_pairs(extras):
    # Stage 1: the same direction at twice the scale (0). Stage 2: sample 0
    # flattens to (1, 0, 0, 0) vs (0, 1, 0, 0), orthogonal (1), sample 1 is
    # identical (0), so the stage's mean is 1/2.
    stage1 = torch.arange(1., 17.).reshape(2, 2, 2, 2)
    student2 = torch.zeros(2, 1, 2, 2)
    student2[0, 0, 0, 0] = 1.
    student2[1] = 1.
    teacher2 = student2.clone()
    teacher2[0, 0, 0] = torch.tensor([0., 1.])
    loss = extras.CosineKDLoss(loss_weight=2.0)((stage1, student2),
                                                (2 * stage1, teacher2))
    torch.testing.assert_close(loss, torch.tensor(1.0))


def test_cosine_kd_sends_gradient_to_the_student_only(extras):
    student = torch.randn(4, 10, requires_grad=True)
    teacher = torch.randn(4, 10, requires_grad=True)
    extras.CosineKDLoss()(student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_cosine_kd_refuses_mismatched_outputs(extras):
    loss = extras.CosineKDLoss()
    with pytest.raises(
            ValueError, match=r'same shape, got \(2, 3\) and '
            r'\(2, 4\)'):
        loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(
            ValueError,
            match='CosineKDLoss pairs stages, but the '
            'student gives 2 feature maps and the teacher 1'):
        loss((torch.zeros(2, 3), torch.zeros(2, 3)), (torch.zeros(2, 3), ))


# ------------------------------------------------------------- registries ---
def test_importing_the_package_registers_both_components(extras):
    assert TASK_UTILS.get('EnergyScorer') is extras.EnergyScorer
    assert MODELS.get('CosineKDLoss') is extras.CosineKDLoss
    assert 'EnergyScorer' in registered_scorer_names()
    scorer = build_scorer(dict(type='EnergyScorer', temperature=2.0))
    assert isinstance(scorer, extras.EnergyScorer)
    assert scorer.temperature == 2.0
    loss = MODELS.build(dict(type='CosineKDLoss', loss_weight=3.0))
    assert isinstance(loss, extras.CosineKDLoss) and loss.loss_weight == 3.0


def test_the_config_swaps_the_scorer_and_adds_the_loss(extras):
    cfg = Config.fromfile(osp.join(REPO_ROOT, CONFIG))
    assert cfg.custom_imports == dict(
        imports=['unix_extras'], allow_failed_imports=False)
    # _delete_ replaces the base scorer instead of merging into it.
    assert cfg.data_preprocessor.scorer == dict(
        type='EnergyScorer', temperature=1.0)
    assert cfg.data_preprocessor.type == 'UNIXDataPreprocessor'
    assert cfg.model.feature_losses == dict(
        loss_cosine=dict(type='CosineKDLoss', loss_weight=1.0))
    # The rest is the base recipe.
    assert cfg.model.kd_loss == dict(
        type='KDLoss', temperature=4.0, loss_weight=1.0)
    assert cfg.train_cfg.max_epochs == 240


def test_a_loss_typo_names_the_slot(extras):
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO_ROOT, CONFIG))
    cfg.model.teacher_ckpt = None
    cfg.model.data_preprocessor = cfg.data_preprocessor
    cfg.model.feature_losses.loss_cosine.type = 'CosineKDLos'
    with pytest.raises(
            KeyError,
            match=r"model\.feature_losses\.loss_cosine\.type='CosineKDLos': "
            "'CosineKDLos is not in the mmunix::model registry"):
        MODELS.build(cfg.model)


# ------------------------------------------------------------- end to end ---
@pytest.mark.slow
def test_the_documented_config_trains_with_the_new_loss(
        tmp_path, cifar_root, teacher_ckpt):
    work_dir = tmp_path / 'work'
    result = run_example(work_dir, *tiny_run_options(cifar_root),
                         f'model.teacher_ckpt={teacher_ckpt}',
                         'train_cfg.max_epochs=1')
    assert_ok(result)
    assert (work_dir / 'epoch_1.pth').is_file()
    assert (work_dir / 'compute_report.json').is_file()
    logs = glob.glob(str(work_dir / '*' / '*.log'))
    assert len(logs) == 1
    with open(logs[0]) as f:
        log = f.read()
    assert "type='EnergyScorer'" in log
    assert 'loss_kd: ' in log and 'loss_cosine: ' in log


@pytest.mark.slow
def test_without_the_project_on_the_path_the_config_fails_to_import(tmp_path):
    result = run_tool([
        PYTHON, 'tools/train.py', CONFIG, '--work-dir',
        str(tmp_path / 'work')
    ])
    assert result.returncode != 0
    assert ("ImportError: Failed to import custom modules from {'imports': "
            "['unix_extras'], 'allow_failed_imports': False}") in result.stderr
    assert 'You should set `PYTHONPATH`' in result.stderr


@pytest.mark.slow
def test_a_scorer_typo_lists_the_scorers_including_the_projects(
        tmp_path, extras):
    # The error comes while the model is built, before data or the teacher
    # are read, so no options beyond the typo are needed.
    result = run_example(tmp_path / 'work',
                         'data_preprocessor.scorer.type=EnergyScorr')
    assert result.returncode != 0
    names = registered_scorer_names()
    assert 'EnergyScorer' in names and 'EntropyScorer' in names
    assert result.stderr.strip().splitlines()[-1] == (
        "train.py: error: model.data_preprocessor.scorer.type='EnergyScorr' "
        'is not a registered scorer; choose one of: ' + ', '.join(names) +
        ' (--debug shows the traceback)')
