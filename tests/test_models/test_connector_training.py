"""The trainable parts of FitNetsLoss, VIDLoss and CRDLoss in real runs.

One run trains all three losses under UNIX for an epoch and saves a checkpoint;
the tests resume it, export its student, and train it on two processes with DDP
(gloo, ``find_unused_parameters=False``).
"""
import copy
import os.path as osp

import pytest
import torch
from conftest import (REPO_ROOT, assert_ok, free_port, run_script_in_process,
                      run_tool, tiny_run_options, train_in_process)
from mmengine import Config
from mmengine.hooks import Hook
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from mmunix.engine import load_from_local_weights_only
from mmunix.registry import MODELS
from mmunix.utils import register_all_modules

TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'extract_student.py')
STAGES = (16, 32, 64)
#: crd-unix on resnet56 -> resnet20 with FitNets and VID on all three stages
#: as well; the CRD banks sized for the 16 tiny training images.
CONFIG = """
_base_ = [{base!r}]
model = dict(
    teacher_ckpt={teacher_ckpt!r},
    teacher=dict(backbone=dict(out_indices=(1, 2, 3))),
    student=dict(backbone=dict(out_indices=(1, 2, 3))),
    feature_losses=dict(
        loss_crd=dict(num_samples=16, num_negatives=64),
        loss_fitnets=dict(
            type='FitNetsLoss',
            student_channels={stages},
            teacher_channels={stages},
            loss_weight=100.0),
        loss_vid=dict(
            type='VIDLoss',
            student_channels={stages},
            teacher_channels={stages})))
"""
#: Prefixes of the loss parts in the distiller's state dict.
LOSS_PARTS = ('feature_losses.loss_crd.', 'feature_losses.loss_fitnets.',
              'feature_losses.loss_vid.')


def write_config(directory, teacher_ckpt: str) -> str:
    path = osp.join(str(directory), 'three_losses.py')
    with open(path, 'w') as file:
        file.write(
            CONFIG.format(
                base=osp.join(REPO_ROOT,
                              'configs/crd/crd-unix_r56_r20_cifar100.py'),
                teacher_ckpt=teacher_ckpt,
                stages=STAGES))
    return path


def loss_state(state_dict: dict) -> dict:
    return {
        key: value.detach().clone()
        for key, value in state_dict.items() if key.startswith(LOSS_PARTS)
    }


def unit_rows(bank: torch.Tensor) -> int:
    """Rows of a memory bank that an update has normalised."""
    return int(((bank.norm(dim=1) - 1).abs() < 1e-6).sum())


@pytest.fixture(scope='module')
def teacher(tmp_path_factory) -> str:
    """A random resnet56 teacher whose BatchNorm statistics are those of a
    batch of random images, so that its eval-mode features have about unit
    scale, as a trained teacher's do; with the initial statistics they grow
    with depth, and the hint and VID losses diverge."""
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(
        Config.fromfile(
            osp.join(REPO_ROOT,
                     'configs/teachers/resnet56_cifar100.py')).model)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # the plain average of the batches seen
    with torch.no_grad():
        model.train()(torch.randn(32, 3, 32, 32), mode='tensor')
    path = str(tmp_path_factory.mktemp('teacher') / 'resnet56.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def trained(tmp_path_factory, cifar_root, teacher):
    """One epoch of 4 iterations (batch 4, k=3) with a checkpoint."""
    work_dir = tmp_path_factory.mktemp('three_losses')
    runner = train_in_process(
        write_config(work_dir, teacher), work_dir, cifar_root, **{
            'model.teacher_ckpt':
            teacher,
            'train_dataloader.batch_size':
            4,
            'default_hooks.checkpoint':
            dict(type='CheckpointHook', interval=1, save_best=None)
        })
    return runner, str(work_dir / 'epoch_1.pth')


class RecordAtStart(Hook):
    """Copies the loss parts and the optimizer state before training."""

    def before_train(self, runner) -> None:
        self.losses = loss_state(runner.model.state_dict())
        self.optimizer = copy.deepcopy(runner.optim_wrapper.state_dict())


@pytest.mark.slow
def test_resume_restores_the_connectors_and_the_memory_banks(
        trained, teacher, tmp_path, cifar_root):
    runner, checkpoint = trained
    saved = load_from_local_weights_only(checkpoint)
    losses = loss_state(saved['state_dict'])
    # Every part of the three losses is saved: connectors, regressors,
    # embedding heads, the CRD banks and normalisers.
    for part in ('loss_fitnets.connectors.2.conv.weight',
                 'loss_vid.regressors.0.log_scale',
                 'loss_crd.embed_teacher.linear.weight',
                 'loss_crd.student_memory', 'loss_crd.normalizers'):
        assert f'feature_losses.{part}' in losses, part
    assert (losses['feature_losses.loss_crd.normalizers'] > 0).all()
    # 4 iterations of k=3 base images: 12 rows of each bank updated.
    for bank in ('student_memory', 'teacher_memory'):
        assert unit_rows(losses[f'feature_losses.loss_crd.{bank}']) == 12
    for key, value in loss_state(runner.model.state_dict()).items():
        assert torch.equal(losses[key], value), key

    record = RecordAtStart()
    resumed = train_in_process(
        write_config(tmp_path, teacher),
        tmp_path,
        cifar_root,
        hooks=[record],
        **{
            'model.teacher_ckpt': teacher,
            'train_dataloader.batch_size': 4,
            'train_cfg.max_epochs': 2,
            'resume': True,
            'load_from': checkpoint
        })

    assert set(record.losses) == set(losses)
    for key, value in losses.items():
        assert torch.equal(record.losses[key], value), key
    # The optimizer's momentum of the loss parts comes back too.
    saved_state = saved['optimizer']['state']
    assert record.optimizer['state'].keys() == saved_state.keys()
    for index, state in saved_state.items():
        assert torch.equal(record.optimizer['state'][index]['momentum_buffer'],
                           state['momentum_buffer'])
    # ... and the second epoch trains them on.
    assert resumed.iter == 8
    after = loss_state(resumed.model.state_dict())
    assert not torch.equal(
        after['feature_losses.loss_fitnets.connectors.0.conv.weight'],
        losses['feature_losses.loss_fitnets.connectors.0.conv.weight'])


@pytest.mark.slow
def test_exported_student_has_no_loss_parts_and_loads_into_mmpretrain(
        trained, tmp_path, monkeypatch):
    runner, checkpoint = trained
    exported_path = tmp_path / 'student.pth'

    assert run_script_in_process(monkeypatch, TOOL, checkpoint,
                                 exported_path) is None

    exported = torch.load(exported_path, weights_only=True)['state_dict']
    for key in exported:
        assert not key.startswith(('feature_losses', 'teacher', 'student')), \
            key
        for part in ('connector', 'regressor', 'embed_', 'memory',
                     'normalizers'):
            assert part not in key, key
    student_cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/models/cifar/resnet20.py'))
    plain = MMPRETRAIN_MODELS.build(student_cfg.model)
    assert type(plain).__module__.startswith('mmpretrain')
    assert set(exported) == set(plain.state_dict())
    load_checkpoint(plain, str(exported_path), strict=True)
    plain.eval()
    student = runner.model.student.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            plain(x, mode='tensor'), student(x, mode='tensor'))


@pytest.mark.slow
def test_two_processes_train_the_loss_parts_with_ddp(tmp_path, cifar_root,
                                                     teacher):
    """Gloo DDP with find_unused_parameters=False (the runtime's setting) fails
    at the second iteration if a parameter got no gradient in the first; the
    CRD banks gather both processes' updates."""
    config = write_config(tmp_path, teacher)
    assert not Config.fromfile(config).model_wrapper_cfg.find_unused_parameters
    result = run_tool([
        'bash', 'tools/dist_train.sh', config, '2', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *tiny_run_options(cifar_root),
        'train_cfg.max_epochs=1', 'randomness.seed=0'
    ],
                      env_extra={'PORT': str(free_port())})
    assert_ok(result)
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log
    # Each process: 8 of the 16 images in batches of 4, k=3 kept.
    assert 'Epoch(train) [1][2/2]' in log
    state = load_from_local_weights_only(
        str(tmp_path / 'work' / 'epoch_1.pth'))['state_dict']
    # Rank 0 saved banks holding both processes' 2 x 2 x 3 base images.
    for bank in ('student_memory', 'teacher_memory'):
        assert unit_rows(state[f'feature_losses.loss_crd.{bank}']) == 12
