"""mmunix's registries extend mmpretrain's; downstream code can join them."""
import os.path as osp
import textwrap

import pytest
from conftest import PYTHON, assert_ok, run_tool, tiny_run_options
from mmengine.registry import DefaultScope
from mmpretrain import registry as mmpretrain_registry

from mmunix import registry as mmunix_registry
from mmunix.utils import register_all_modules


@pytest.mark.parametrize('name', mmunix_registry.__all__)
def test_every_node_is_a_child_of_mmpretrains(name):
    node = getattr(mmunix_registry, name)
    assert node.scope == 'mmunix'
    assert node.parent is getattr(mmpretrain_registry, name)


def test_default_scope_finds_mmunix_and_mmpretrain_components():
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'mmunix'
    models = mmunix_registry.MODELS
    assert models.get('ImageClassifier').__module__.startswith('mmpretrain')
    assert models.get('CIFARResNet').__module__.startswith('mmunix')
    assert mmunix_registry.DATASETS.get('CIFAR100').__module__.startswith(
        'mmunix')


def test_register_all_modules_switches_another_scope_to_mmunix():
    DefaultScope.get_instance(
        'test-registry-mmpretrain', scope_name='mmpretrain')
    assert DefaultScope.get_current_instance().scope_name == 'mmpretrain'
    register_all_modules(init_default_scope=False)
    assert DefaultScope.get_current_instance().scope_name == 'mmpretrain'
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'mmunix'


@pytest.mark.slow
def test_downstream_package_registers_and_trains_from_config(
        tmp_path, cifar_root):
    """A user's own package adds a backbone that a config then trains."""
    package = tmp_path / 'my_kd_project'
    package.mkdir()
    (package / '__init__.py').write_text(
        textwrap.dedent('''
        import torch.nn as nn
        from mmpretrain.models.backbones.base_backbone import BaseBackbone

        from mmunix.registry import MODELS


        @MODELS.register_module()
        class TwoConvNet(BaseBackbone):
            def __init__(self, width=8):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(),
                    nn.Conv2d(width, width, 3, 2, 1), nn.ReLU())

            def forward(self, x):
                return (self.body(x), )
    '''))
    config = tmp_path / 'downstream.py'
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    config.write_text(
        textwrap.dedent(f'''
        _base_ = [
            '{repo}/configs/_base_/datasets/cifar100_bs64.py',
            '{repo}/configs/_base_/schedules/cifar100_sgd_240e.py',
            '{repo}/configs/_base_/default_runtime.py',
        ]
        custom_imports = dict(imports=['my_kd_project'],
                              allow_failed_imports=False)
        model = dict(
            type='ImageClassifier',
            backbone=dict(type='TwoConvNet', width=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=100, in_channels=8,
                      loss=dict(type='CrossEntropyLoss')))
        train_cfg = dict(max_epochs=1)
    '''))
    result = run_tool([
        PYTHON, 'tools/train.py',
        str(config), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *tiny_run_options(cifar_root)
    ],
                      env_extra={'PYTHONPATH': str(tmp_path)})
    assert_ok(result)
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
