"""ImageNet configs of mmpretrain pairs; tools/train.py runs each one."""
import json
import os
import os.path as osp

import pytest
import torch
import yaml
from conftest import IMAGENET_NUM_TRAIN, PYTHON, REPO_ROOT, assert_ok, run_tool
from mmengine import Config

from mmunix.registry import MODELS
from mmunix.utils import model_config, register_all_modules
from mmunix.utils.model_config import resolve_config_path

TEACHERS = {
    'r34': 'mmpretrain::resnet/resnet34_8xb32_in1k.py',
    'r50': 'mmpretrain::resnet/resnet50_8xb32_in1k.py',
}
#: config -> (teacher, student backbone, its depth or None, mmpretrain
#: model-zoo name of the teacher checkpoint)
PAIRS = {
    'kd_r34_r18_in1k.py': ('r34', 'ResNet', 18, 'resnet34_8xb32_in1k'),
    'unix_r34_r18_in1k.py': ('r34', 'ResNet', 18, 'resnet34_8xb32_in1k'),
    'kd_r50_mbv2_in1k.py': ('r50', 'MobileNetV2', None, 'resnet50_8xb32_in1k'),
    'unix_r50_mbv2_in1k.py':
    ('r50', 'MobileNetV2', None, 'resnet50_8xb32_in1k'),
}
BATCH, CROP = 4, 64


def config_path(name: str) -> str:
    return osp.join(REPO_ROOT, 'configs', 'imagenet', name)


def model_zoo_url(name: str) -> str:
    """The checkpoint URL of ``name`` in mmpretrain's resnet metafile."""
    with open(resolve_config_path('mmpretrain::resnet/metafile.yml')) as f:
        models = yaml.safe_load(f)['Models']
    return next(m['Weights'] for m in models if m['Name'] == name)


def test_every_imagenet_config_is_tested():
    names = sorted(os.listdir(osp.join(REPO_ROOT, 'configs', 'imagenet')))
    assert [n for n in names if n.endswith('.py')] == sorted(PAIRS)


@pytest.mark.parametrize('name', sorted(PAIRS))
def test_config_builds_the_mmpretrain_pair_with_the_8gpu_recipe(name):
    teacher, student, depth, zoo_name = PAIRS[name]
    cfg = Config.fromfile(config_path(name))
    # The teacher and the student come from mmpretrain's own config files.
    assert cfg.model.teacher.cfg_path == TEACHERS[teacher]
    assert cfg.model.student.cfg_path.startswith('mmpretrain::')
    assert cfg.model.teacher_ckpt == model_zoo_url(zoo_name)

    # mmpretrain's ImageNet data and the 8 x 32 schedule.
    assert cfg.default_scope == 'mmunix'
    assert cfg.model_wrapper_cfg.type == 'mmunix.engine.CPUCapableDDP'
    train, val = cfg.train_dataloader, cfg.val_dataloader
    assert (train.dataset.type, train.dataset.data_root,
            train.dataset.split) == ('ImageNet', 'data/imagenet', 'train')
    assert (val.dataset.type, val.dataset.split) == ('ImageNet', 'val')
    assert [t.type for t in train.dataset.pipeline] == [
        'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'PackInputs'
    ]
    assert train.dataset.pipeline[1].scale == 224
    assert [(t.type, t.get('scale'), t.get('crop_size'))
            for t in val.dataset.pipeline[1:3]] == [('ResizeEdge', 256, None),
                                                    ('CenterCrop', None, 224)]
    assert (cfg.data_preprocessor.mean, cfg.data_preprocessor.std,
            cfg.data_preprocessor.to_rgb) == ([123.675, 116.28, 103.53],
                                              [58.395, 57.12, 57.375], True)
    assert train.batch_size == 32
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert cfg.param_scheduler.milestones == [30, 60, 90]
    assert cfg.train_cfg.max_epochs == 100
    assert cfg.auto_scale_lr == dict(base_batch_size=256)

    # Losses (see configs/imagenet/_base_/distillers/kd_in1k.py).
    assert (cfg.model.kd_loss.temperature, cfg.model.kd_loss.loss_weight,
            cfg.model.ce_loss.loss_weight) == (1.0, 0.5, 0.5)
    assert [h.type for h in cfg.custom_hooks] == ['TeacherQueryHook']
    unix = name.startswith('unix')
    if unix:
        pre = cfg.data_preprocessor
        assert (pre.type, pre.num_selected, pre.num_clean, pre.sharpness,
                pre.scorer.type) == ('UNIXDataPreprocessor', 0.75, 0.5, 10.0,
                                     'EntropyScorer')

    register_all_modules()
    cfg.model.teacher_ckpt = None
    cfg.model.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(cfg.model)
    assert model.uses_unix == unix
    assert model.teacher.backbone.depth == int(teacher[1:])
    assert type(model.student.backbone).__name__ == student
    if depth is not None:
        assert model.student.backbone.depth == depth
    for classifier in (model.teacher, model.student):
        assert classifier.head.num_classes == 1000


@pytest.fixture(scope='module')
def teacher_ckpts(tmp_path_factory) -> dict:
    """Randomly initialised mmpretrain teachers, saved as checkpoints."""
    register_all_modules()
    folder = tmp_path_factory.mktemp('teachers')
    paths = {}
    for teacher, cfg_path in TEACHERS.items():
        model = MODELS.build(
            model_config(dict(cfg_path=cfg_path), 'model.teacher'))
        paths[teacher] = str(folder / f'{teacher}.pth')
        torch.save({'state_dict': model.state_dict()}, paths[teacher])
    return paths


def tiny_imagenet_options(data_root: str, teacher_ckpt: str) -> list:
    """``--cfg-options`` for one epoch on the tiny data, with the configs'
    pipelines cropping 64 instead of 224 pixels to keep the CPU run short."""
    options = [
        f'model.teacher_ckpt={teacher_ckpt}', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1', 'custom_hooks.0.interval=1',
        f'train_dataloader.dataset.pipeline.1.scale={CROP}',
        f'val_dataloader.dataset.pipeline.1.scale={CROP + 8}',
        f'val_dataloader.dataset.pipeline.2.crop_size={CROP}',
        'default_hooks.checkpoint.save_best=None'
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={data_root}',
            f'{loader}.batch_size={BATCH}',
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
        ]
    return options


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(PAIRS))
def test_train_py_distils_the_pair_end_to_end(name, tmp_path, imagenet_root,
                                              teacher_ckpts):
    result = run_tool([
        PYTHON, 'tools/train.py', f'configs/imagenet/{name}', '--work-dir',
        str(tmp_path), '--cfg-options',
        *tiny_imagenet_options(imagenet_root, teacher_ckpts[PAIRS[name][0]])
    ])
    assert_ok(result)
    log = result.stdout + result.stderr
    iterations = IMAGENET_NUM_TRAIN // BATCH
    assert f'Epoch(train) [1][{iterations}/{iterations}]' in log
    assert 'loss_kd' in log and 'loss_ce' in log
    assert 'accuracy/top1' in log
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    with open(tmp_path / 'compute_report.json') as f:
        report = json.load(f)
    # Each iteration draws 4 images; UNIX sends round(0.75 * 4) = 3 of them
    # to the teacher, KD all 4.
    kept = 3 if name.startswith('unix') else BATCH
    assert report['batch_samples'] == iterations * BATCH
    assert report['teacher_samples'] == iterations * kept
    assert report['student_train_samples'] == iterations * kept
    assert report['input_shape'] == [3, CROP, CROP]
