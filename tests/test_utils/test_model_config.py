"""``'mmunix::...'`` config paths: what mmunix resolves, and the reasons
MMEngine 0.10.7 does not that docs/mim.md gives."""
import os.path as osp

import pytest
from conftest import REPO_ROOT
from mmengine.config import Config

from mmunix.apis import MIM_ROOT
from mmunix.utils import model_config, resolve_config_path


@pytest.mark.parametrize(
    'config', ['unix_r56_r20_cifar100.py', 'teachers/resnet56_cifar100.py'])
def test_mmunix_paths_name_the_packaged_configs(config):
    path = resolve_config_path(f'mmunix::{config}')
    assert path == osp.join(MIM_ROOT, 'configs', config)
    with open(path) as packaged, open(osp.join(REPO_ROOT, 'configs',
                                               config)) as source:
        assert packaged.read() == source.read()
    # Its {{ fileDirname }} paths stay inside the package.
    model = Config.fromfile(path).model
    for role in ('teacher', 'student'):
        if role in model:
            assert model[role].cfg_path.startswith(
                osp.join(MIM_ROOT, 'configs', ''))
            assert model_config(model[role], role).head.num_classes == 100


def test_a_teacher_can_come_from_the_packaged_configs():
    teacher = model_config(
        dict(
            cfg_path='mmunix::teachers/resnet56_cifar100.py',
            backbone=dict(out_indices=(1, 2, 3))), 'model.teacher')
    assert teacher.backbone == dict(
        type='mmunix.CIFARResNet', arch='resnet56', out_indices=(1, 2, 3))
    assert teacher.head.num_classes == 100


def write_config(tmp_path, base: str) -> str:
    path = tmp_path / 'child.py'
    path.write_text(f'_base_ = [{base!r}]\n')
    return str(path)


def test_mmengine_reads_no_mmunix_path(tmp_path):
    # Config.fromfile takes its argument for a file name.
    with pytest.raises(FileNotFoundError) as error:
        Config.fromfile('mmunix::unix_r56_r20_cifar100.py')
    assert "'mmunix::unix_r56_r20_cifar100.py'" in str(error.value)

    # In _base_, a path needs a directory after the package ...
    with pytest.raises(ValueError) as error:
        Config.fromfile(
            write_config(tmp_path, 'mmunix::unix_r56_r20_cifar100.py'))
    assert str(error.value).startswith(
        '`_get_package_and_cfg_path` is used for get external package')

    # ... and a package of MMEngine's own list.
    with pytest.raises(AssertionError) as error:
        Config.fromfile(
            write_config(tmp_path, 'mmunix::teachers/resnet56_cifar100.py'))
    assert str(error.value) == 'mmengine does not support to load mmunix ' \
        'config.'
