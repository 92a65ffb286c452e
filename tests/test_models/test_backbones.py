"""Tests for ``mmunix/models/backbones``: the CIFAR zoo in community layout.

The pinned state_dict sizes and key names come from the community networks
(RepDistiller) with their classifier removed, so a community checkpoint
converts by prefixing ``backbone.``; see docs/notes/community_layout.md.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmunix.registry import MODELS
from mmunix.utils import register_all_modules
from mmunix.utils.complexity import measure_complexity

CONFIG_DIR = osp.join(
    osp.dirname(osp.abspath(__file__)), '..', '..', 'configs', '_base_',
    'models', 'cifar')


def resnet_stages(w0, w1, w2, w3):
    return [(w0, 32, 32), (w1, 32, 32), (w2, 16, 16), (w3, 8, 8)]


VGG_STAGES = [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4),
              (512, 4, 4)]

#: config name -> (backbone cfg, (C, H, W) of every stage for a 32x32 input,
#: (state_dict entries, parameters) of the community net minus classifier).
ZOO = {
    'resnet8': (dict(type='CIFARResNet',
                     arch='resnet8'), resnet_stages(16, 16, 32,
                                                    64), (54, 77392)),
    'resnet14': (dict(type='CIFARResNet',
                      arch='resnet14'), resnet_stages(16, 16, 32,
                                                      64), (90, 174608)),
    'resnet20': (dict(type='CIFARResNet',
                      arch='resnet20'), resnet_stages(16, 16, 32,
                                                      64), (126, 271824)),
    'resnet32': (dict(type='CIFARResNet',
                      arch='resnet32'), resnet_stages(16, 16, 32,
                                                      64), (198, 466256)),
    'resnet44': (dict(type='CIFARResNet',
                      arch='resnet44'), resnet_stages(16, 16, 32,
                                                      64), (270, 660688)),
    'resnet56': (dict(type='CIFARResNet',
                      arch='resnet56'), resnet_stages(16, 16, 32,
                                                      64), (342, 855120)),
    'resnet110': (dict(type='CIFARResNet',
                       arch='resnet110'), resnet_stages(16, 16, 32,
                                                        64), (666, 1730064)),
    'resnet8x4': (dict(type='CIFARResNet',
                       arch='resnet8x4'), resnet_stages(32, 64, 128,
                                                        256), (60, 1207840)),
    'resnet32x4':
    (dict(type='CIFARResNet',
          arch='resnet32x4'), resnet_stages(32, 64, 128, 256), (204, 7408160)),
    'wrn_16_1': (dict(type='WideResNet',
                      arch='wrn_16_1'), resnet_stages(16, 16, 32,
                                                      64), (80, 174416)),
    'wrn_16_2': (dict(type='WideResNet',
                      arch='wrn_16_2'), resnet_stages(16, 32, 64,
                                                      128), (81, 690384)),
    'wrn_40_1': (dict(type='WideResNet',
                      arch='wrn_40_1'), resnet_stages(16, 16, 32,
                                                      64), (224, 563280)),
    'wrn_40_2': (dict(type='WideResNet',
                      arch='wrn_40_2'), resnet_stages(16, 32, 64,
                                                      128), (225, 2242256)),
    'vgg8': (dict(type='CIFARVGG', arch='vgg8'), VGG_STAGES, (35, 3913728)),
    'vgg11': (dict(type='CIFARVGG', arch='vgg11'), VGG_STAGES, (56, 9225984)),
    'vgg13': (dict(type='CIFARVGG', arch='vgg13'), VGG_STAGES, (70, 9410880)),
    'vgg16': (dict(type='CIFARVGG', arch='vgg16'), VGG_STAGES, (91, 14723136)),
    'vgg19': (dict(type='CIFARVGG',
                   arch='vgg19'), VGG_STAGES, (112, 20035392)),
    'mobilenetv2':
    (dict(type='CIFARMobileNetV2'), [(16, 16, 16), (12, 16, 16), (16, 8, 8),
                                     (48, 4, 4), (1280, 2, 2)], (318, 684736)),
    'shufflenetv1':
    (dict(type='CIFARShuffleNetV1'), [(24, 32, 32), (240, 16, 16), (480, 8, 8),
                                      (960, 4, 4)], (294, 853158)),
    'shufflenetv2':
    (dict(type='CIFARShuffleNetV2'), [(24, 32, 32), (116, 16, 16), (232, 8, 8),
                                      (1024, 4, 4)], (336, 1253028)),
    'resnet50': (dict(type='CIFARBottleneckResNet',
                      arch='resnet50'), [(64, 32, 32), (256, 32, 32),
                                         (512, 16, 16), (1024, 8, 8),
                                         (2048, 4, 4)], (318, 23500352)),
}

#: backbone cfg -> (community keys that must exist, keys that must not).
COMMUNITY_KEYS = [
    (dict(type='CIFARResNet', arch='resnet8x4'), [
        'conv1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight',
        'layer1.0.downsample.0.weight', 'layer1.0.downsample.1.running_var',
        'layer3.0.bn2.num_batches_tracked'
    ], ['fc.weight']),
    (dict(type='CIFARResNet', arch='resnet56'),
     ['layer2.0.downsample.0.weight', 'layer3.8.conv2.weight'
      ], ['layer1.0.downsample.0.weight', 'layer3.9.conv1.weight']),
    (dict(type='WideResNet', arch='wrn_40_2'), [
        'conv1.weight', 'block1.layer.0.bn1.weight',
        'block1.layer.0.convShortcut.weight', 'block3.layer.5.conv2.weight',
        'bn1.running_var'
    ], ['block1.layer.1.convShortcut.weight', 'fc.weight']),
    (dict(type='WideResNet',
          arch='wrn_40_1'), ['block2.layer.0.convShortcut.weight'],
     ['block1.layer.0.convShortcut.weight']),
    (dict(type='CIFARVGG', arch='vgg13'), [
        'block0.0.weight', 'block0.0.bias', 'block0.1.running_mean',
        'block0.3.weight', 'block0.4.weight', 'block4.4.running_var'
    ], ['block0.6.weight', 'classifier.weight']),
    (dict(type='CIFARMobileNetV2'), [
        'conv1.0.weight', 'conv1.1.bias', 'blocks.0.0.conv.0.weight',
        'blocks.6.0.conv.7.running_var', 'conv2.0.weight', 'conv2.1.weight'
    ], ['classifier.0.weight']),
    (dict(type='CIFARShuffleNetV1'), [
        'conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight',
        'layer1.0.bn3.running_mean', 'layer3.3.conv3.weight'
    ], ['layer3.4.conv3.weight', 'linear.weight']),
    (dict(type='CIFARShuffleNetV2'), [
        'layer1.0.conv5.weight', 'layer1.3.conv3.weight', 'conv2.weight',
        'bn2.num_batches_tracked'
    ], ['layer1.4.conv1.weight', 'linear.weight']),
    (dict(type='CIFARBottleneckResNet'), [
        'layer1.0.shortcut.0.weight', 'layer1.0.shortcut.1.running_mean',
        'layer4.2.conv3.weight'
    ], ['layer1.1.shortcut.0.weight', 'linear.weight']),
]


@pytest.fixture(scope='module', autouse=True)
def registered():
    register_all_modules()


def build_backbone(cfg, **kwargs):
    return MODELS.build(dict(cfg, **kwargs))


@pytest.mark.parametrize('name', list(ZOO))
def test_every_stage_has_the_documented_shape(name):
    cfg, stages, _ = ZOO[name]
    backbone = build_backbone(cfg, out_indices=tuple(range(len(stages))))
    # ResNet50 and resnet110 dominate the run time; one sample is enough.
    batch = 1 if name in ('resnet50', 'resnet110') else 2
    with torch.no_grad():
        feats = backbone(torch.randn(batch, 3, 32, 32))
    assert isinstance(feats, tuple)
    assert [tuple(f.shape) for f in feats] == [(batch, ) + s for s in stages]


@pytest.mark.parametrize('name', list(ZOO))
def test_state_dict_has_the_community_size(name):
    cfg, _, (num_entries, num_params) = ZOO[name]
    backbone = build_backbone(cfg)
    assert len(backbone.state_dict()) == num_entries
    assert sum(p.numel() for p in backbone.parameters()) == num_params


@pytest.mark.parametrize('cfg,present,absent', COMMUNITY_KEYS)
def test_state_dict_uses_community_key_names(cfg, present, absent):
    keys = set(build_backbone(cfg).state_dict())
    assert set(present) <= keys
    assert not set(absent) & keys


def test_default_out_indices_return_only_the_last_stage():
    feats = build_backbone(dict(type='CIFARResNet', arch='resnet8'))(
        torch.randn(2, 3, 32, 32))
    assert [f.shape for f in feats] == [(2, 64, 8, 8)]


def test_out_indices_accept_negatives_and_sort_them():
    backbone = build_backbone(
        dict(type='WideResNet', arch='wrn_16_1'), out_indices=(-1, 1, -3))
    assert backbone.out_indices == (1, 3)
    feats = backbone(torch.randn(2, 3, 32, 32))
    assert [f.shape[1] for f in feats] == [16, 64]


def test_vgg_applies_pool3_only_to_64x64_inputs():
    backbone = build_backbone(
        dict(type='CIFARVGG', arch='vgg8'), out_indices=(3, 4))
    with torch.no_grad():
        at_32 = backbone(torch.randn(2, 3, 32, 32))
        at_64 = backbone(torch.randn(2, 3, 64, 64))
    assert [f.shape[-1] for f in at_32] == [4, 4]
    assert [f.shape[-1] for f in at_64] == [8, 4]


def config_paths():
    return sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))


def test_there_is_one_config_per_arch():
    names = {osp.splitext(osp.basename(p))[0] for p in config_paths()}
    assert names == set(ZOO)


@pytest.mark.parametrize(
    'path', config_paths(), ids=lambda p: osp.basename(p)[:-3])
def test_config_builds_a_classifier_with_100_logits(path):
    model = MODELS.build(Config.fromfile(path).model)
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 100)


def test_flops_match_the_documented_figures():
    """fvcore gives resnet56 126.8 M and resnet20 41.2 M FLOPs at 32x32, the
    figures of the table in docs/model_zoo.md."""
    for name, expected in (('resnet56', 126.8e6), ('resnet20', 41.2e6)):
        model = MODELS.build(
            Config.fromfile(osp.join(CONFIG_DIR, f'{name}.py')).model)
        _, flops = measure_complexity(model, (3, 32, 32))
        assert flops == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize('cfg,valid', [
    (dict(type='CIFARResNet', arch='resnet57'), 'resnet110'),
    (dict(type='WideResNet', arch='wrn_28_10'), 'wrn_40_2'),
    (dict(type='CIFARVGG', arch='vgg13_bn'), 'vgg13'),
    (dict(type='CIFARBottleneckResNet', arch='resnet18'), 'resnet50'),
])
def test_unknown_arch_lists_the_valid_archs(cfg, valid):
    with pytest.raises(ValueError, match=f"arch='{cfg['arch']}'.*{valid}"):
        build_backbone(cfg)


@pytest.mark.parametrize('cfg', [
    dict(type='CIFARResNet'),
    dict(type='WideResNet'),
    dict(type='CIFARVGG'),
    dict(type='CIFARMobileNetV2'),
    dict(type='CIFARShuffleNetV1'),
    dict(type='CIFARShuffleNetV2'),
    dict(type='CIFARBottleneckResNet'),
])
@pytest.mark.parametrize('out_indices', [(7, ), (-8, ), (), ('0', ), (0.0, )])
def test_bad_out_indices_name_the_valid_range(cfg, out_indices):
    with pytest.raises(ValueError, match='out_indices.*valid indices are 0'):
        build_backbone(cfg, out_indices=out_indices)


@pytest.mark.parametrize('kwargs', [
    dict(widen_factor=0),
    dict(expand_ratio=0),
])
def test_mobilenetv2_rejects_nonpositive_widths(kwargs):
    with pytest.raises(ValueError, match='widen_factor'):
        build_backbone(dict(type='CIFARMobileNetV2'), **kwargs)
