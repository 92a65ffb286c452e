"""configs/vanilla/: each student of the CIFAR-100 pairs trained alone with
cross-entropy, on exactly the recipe of its distillation configs."""
import glob
import math
import os.path as osp

import pytest
from conftest import REPO_ROOT, train_in_process
from mmengine import Config

from mmunix.registry import MODELS
from mmunix.utils import model_config, register_all_modules

#: The kd_ and unix_ configs of the 12 paper pairs. The at-unix and sp-unix
#: configs change the student's out_indices for their feature losses; their
#: baseline is the one of unix_r56_r20_cifar100.py.
PAIR_CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT) for method in ('kd', 'unix')
    for path in glob.glob(
        osp.join(REPO_ROOT, 'configs', f'{method}_*_cifar100.py')))
VANILLA_CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT)
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', 'vanilla', '*.py')))
#: Keys of a distillation config that its vanilla config may lack or set
#: otherwise: the TeacherQueryHook, which refuses a model that is not a
#: distiller, and the settings of the teacher's evaluation, which a run
#: without a teacher skips.
DISTILLER_ONLY_KEYS = ('custom_hooks', 'default_hooks.teacher_eval')


def load(config: str) -> Config:
    return Config.fromfile(osp.join(REPO_ROOT, config))


def recipe(cfg: Config) -> dict:
    """All of ``cfg`` but its model, its data preprocessor and the
    :data:`DISTILLER_ONLY_KEYS`, as a dict."""
    rest = cfg.to_dict()
    # unix_data_preprocessor is the variable that the UNIX configs take
    # their data_preprocessor from (configs/_base_/distillers/).
    for key in ('model', 'data_preprocessor',
                'unix_data_preprocessor') + DISTILLER_ONLY_KEYS:
        *parents, name = key.split('.')
        node = rest
        for parent in parents:
            node = node.get(parent, {})
        node.pop(name, None)
    return rest


def vanilla_config_of(pair_config: Config) -> str:
    """``configs/vanilla/<student model file>_cifar100.py``."""
    student = osp.splitext(osp.basename(pair_config.model.student.cfg_path))[0]
    return f'configs/vanilla/{student}_cifar100.py'


def test_every_student_of_the_pairs_has_exactly_one_vanilla_config():
    assert len(PAIR_CONFIGS) == 24
    wanted = {vanilla_config_of(load(config)) for config in PAIR_CONFIGS}
    assert wanted == set(VANILLA_CONFIGS)
    assert len(VANILLA_CONFIGS) == 8


@pytest.mark.parametrize('config', PAIR_CONFIGS)
def test_vanilla_config_is_the_pair_without_teacher_and_distiller(config):
    pair = load(config)
    vanilla = load(vanilla_config_of(pair))

    assert vanilla.model == model_config(pair.model.student, 'model.student')
    assert 'custom_hooks' not in vanilla
    # Everything else is the recipe: dataset, loaders, pipelines, optimizer,
    # schedule, train/val/test loops and the runtime.
    vanilla_recipe, pair_recipe = recipe(vanilla), recipe(pair)
    differing = sorted(
        key for key in set(vanilla_recipe) | set(pair_recipe)
        if vanilla_recipe.get(key) != pair_recipe.get(key))
    assert differing == [], f'{config}: the recipe differs in {differing}'
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert vanilla[key] == pair[key]
    for loader in ('train_dataloader', 'val_dataloader'):
        assert vanilla[loader].batch_size == pair[loader].batch_size
        assert vanilla[loader].dataset.pipeline == \
            pair[loader].dataset.pipeline

    # KD preprocesses exactly as the student alone; UNIX adds its mixing
    # keys to the same normalisation.
    if pair.data_preprocessor.type == 'UNIXDataPreprocessor':
        for key, value in vanilla.data_preprocessor.items():
            if key != 'type':
                assert pair.data_preprocessor[key] == value, key
    else:
        assert vanilla.data_preprocessor == pair.data_preprocessor


@pytest.mark.parametrize('config', VANILLA_CONFIGS)
def test_vanilla_config_builds_its_student_in_the_registry(config):
    register_all_modules()
    cfg = load(config)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'ImageClassifier'
    assert type(
        model.backbone).__name__ == cfg.model.backbone.type.split('.')[-1]
    assert model.head.num_classes == 100


def test_a_vanilla_config_trains_with_the_runner_at_its_own_rate(
        tmp_path, cifar_root):
    runner = train_in_process('configs/vanilla/mobilenetv2_cifar100.py',
                              tmp_path, cifar_root)
    # 16 tiny images in batches of 2, at MobileNetV2's rate of the recipe.
    assert runner.iter == 8
    assert runner.optim_wrapper.get_lr()['lr'] == [0.01]
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss)
    assert 'train/loss_kd' not in runner.message_hub.log_scalars
