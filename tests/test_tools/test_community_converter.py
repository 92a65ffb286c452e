"""tools/model_converters/community_to_mmunix.py and its conversion functions.

A reference community network (tests/community_nets.py) with random weights
and BatchNorm statistics is saved in the community layout, converted, and
loaded into the mmunix model of ``configs/_base_/models/cifar/<arch>.py``;
both must then compute the same features and logits.
"""
import os.path as osp
import runpy

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from community_nets import ARCHS, build_community_net  # tests/ on sys.path
from conftest import PYTHON, REPO_ROOT, assert_ok, run_tool, tiny_run_options
from mmunix.models.utils.community import (convert_community_state_dict,
                                           load_community_state_dict)
from mmunix.registry import MODELS
from mmunix.utils import register_all_modules

CONVERTER = osp.join(REPO_ROOT, 'tools', 'model_converters',
                     'community_to_mmunix.py')

# Where the community pools with avg_pool2d over the whole map (ResNet, WRN,
# ShuffleNets), mmpretrain's GlobalAveragePooling (AdaptiveAvgPool2d((1, 1)),
# i.e. a mean) sums in another order, so pooled features and logits may differ
# in the last bit; there the features before pooling are compared bit for bit
# and the logits to 1e-6. VGG and ResNet50 pool adaptively like mmpretrain,
# and MobileNetV2's 2x2 pool sums in the same order, so their logits match
# exactly.
POOLS_LIKE_MMPRETRAIN = ('vgg8', 'vgg11', 'vgg13', 'vgg16', 'vgg19',
                         'mobilenetv2', 'resnet50')
#: How the zoo saves checkpoints, see :func:`save_community`; the archs of
#: ``configs/_base_/models/cifar`` take turns with them.
LAYOUTS = ('model', 'module+state_dict', 'bare', 'module+model', 'state_dict',
           'module+bare')


@pytest.fixture(autouse=True, scope='module')
def single_thread():
    """One intra-op thread: tiny batches gain nothing from two, and on a
    shared 2-core machine a second spinning thread makes them much slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_config(arch: str) -> str:
    return osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'cifar',
                    f'{arch}.py')


def build_mmunix_model(config: str) -> nn.Module:
    register_all_modules()
    return MODELS.build(Config.fromfile(config).model).eval()


def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Give every weight and BatchNorm statistic a random value.

    BatchNorm gains below 1 keep even resnet110's logits O(1), so that an
    absolute tolerance of 1e-6 means a few float32 ulp.
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(t, low, high):
        t.copy_(torch.rand(t.shape, generator=gen) * (high - low) + low)

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                uniform(m.weight, 0.3, 0.8)
                uniform(m.bias, -0.2, 0.2)
                uniform(m.running_mean, -0.2, 0.2)
                uniform(m.running_var, 0.5, 1.5)
                m.num_batches_tracked.fill_(
                    int(torch.randint(1, 10000, (), generator=gen)))
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(
                    torch.randn(m.weight.shape, generator=gen) / fan_in**0.5)
                if m.bias is not None:
                    uniform(m.bias, -0.2, 0.2)
    return net.eval()


def save_community(net: nn.Module, path, layout: str) -> str:
    """Save like the zoo; ``layout`` is ``[module+](model|state_dict|bare)``.

    ``model`` is RepDistiller's ``{'epoch', 'model', 'best_acc',
    'optimizer'}``; ``module+`` adds DataParallel's key prefix.
    """
    state_dict = net.state_dict()
    if layout.startswith('module+'):
        state_dict = {'module.' + k: v for k, v in state_dict.items()}
        layout = layout[len('module+'):]
    if layout == 'bare':
        checkpoint = state_dict
    else:
        checkpoint = {
            'epoch': 240,
            layout: state_dict,
            'best_acc': torch.tensor(73.5)
        }
    if layout == 'model':
        checkpoint['optimizer'] = torch.optim.SGD(
            net.parameters(), lr=0.05, momentum=0.9).state_dict()
    torch.save(checkpoint, str(path))
    return str(path)


def assert_same_outputs(reference: nn.Module, model: nn.Module, arch: str):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected_feats, expected = reference.features(x), reference(x)
        feats, logits = model.backbone(x)[-1], model(x, mode='tensor')
    assert torch.equal(feats, expected_feats), f'{arch}: backbone differs'
    if arch in POOLS_LIKE_MMPRETRAIN:
        assert torch.equal(logits, expected), f'{arch}: logits differ'
    else:
        torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize('arch,layout', [(arch, LAYOUTS[i % len(LAYOUTS)])
                                         for i, arch in enumerate(ARCHS)])
def test_converted_community_net_gives_identical_logits(
        tmp_path, arch, layout):
    reference = randomise(build_community_net(arch), seed=len(arch))
    src = save_community(reference, tmp_path / 'community.pth', layout)
    model = build_mmunix_model(model_config(arch))

    state_dict = convert_community_state_dict(
        load_community_state_dict(src), model)
    model.load_state_dict(state_dict, strict=True)

    assert_same_outputs(reference, model, arch)


def test_cli_output_loads_in_mmengine_and_tools_test(tmp_path, cifar_root):
    reference = randomise(build_community_net('resnet56'), seed=56)
    src = save_community(reference, tmp_path / 'ckpt_epoch_240.pth',
                         'module+model')
    dst = tmp_path / 'converted' / 'resnet56.pth'
    config = osp.join(REPO_ROOT, 'configs', 'teachers', 'resnet56_cifar100.py')

    result = run_tool([PYTHON, CONVERTER, src, str(dst), '--config', config])

    assert_ok(result)
    assert f'Converted 344 tensors from {src} to {dst}' in result.stdout
    model = build_mmunix_model(config)
    checkpoint = load_checkpoint(model, str(dst), strict=True)
    assert checkpoint['meta']['source'] == src
    assert checkpoint['meta']['converter'].endswith('community_to_mmunix.py')
    assert_same_outputs(reference, model, 'resnet56')

    result = run_tool([
        PYTHON, 'tools/test.py', config,
        str(dst), '--work-dir',
        str(tmp_path / 'work_dir'), '--cfg-options',
        *tiny_run_options(cifar_root)
    ])
    assert_ok(result)
    log = result.stdout + result.stderr
    assert 'accuracy/top1' in log and 'do not match exactly' not in log


def run_converter(monkeypatch, src, dst, arch='resnet8'):
    """Run the tool in this process; returns its exit message."""
    argv = [CONVERTER, str(src), str(dst), '--config', model_config(arch)]
    monkeypatch.setattr('sys.argv', argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(CONVERTER, run_name='__main__')
    return str(exit_info.value.code)


def corrupt(state_dict, how):
    if how == 'unexpected':
        state_dict['layer4.0.conv1.weight'] = torch.zeros(64, 64, 3, 3)
    elif how == 'missing':
        del state_dict['layer2.0.bn1.running_var']
    elif how == 'shape':
        state_dict['fc.weight'] = torch.zeros(10, 64)
        state_dict['fc.bias'] = torch.zeros(10)
    return state_dict


@pytest.mark.parametrize('how,expected', [
    ('unexpected', 'unexpected keys (1): backbone.layer4.0.conv1.weight'),
    ('missing', 'missing keys (1): backbone.layer2.0.bn1.running_var'),
    ('shape', 'head.fc.weight: checkpoint (10, 64) vs model (100, 64)'),
])
def test_mismatched_checkpoint_is_named_and_nothing_written(
        tmp_path, monkeypatch, how, expected):
    state_dict = corrupt(build_community_net('resnet8').state_dict(), how)
    src = tmp_path / 'community.pth'
    torch.save({'model': state_dict}, src)
    dst = tmp_path / 'out' / 'converted.pth'

    message = run_converter(monkeypatch, src, dst)

    assert expected in message
    assert 'Nothing was written' in message
    assert not dst.exists() and not dst.parent.exists()


class RunsCodeWhenUnpickled:
    marker = None

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_checkpoint_that_is_not_weights_only_is_refused(tmp_path, monkeypatch):
    payload = RunsCodeWhenUnpickled()
    payload.marker = str(tmp_path / 'code_ran')
    src = tmp_path / 'community.pth'
    torch.save(
        {
            'model': build_community_net('resnet8').state_dict(),
            'opt': payload
        }, src)
    dst = tmp_path / 'converted.pth'

    message = run_converter(monkeypatch, src, dst)

    assert 'Refused to load' in message and 'arbitrary code' in message
    assert not osp.exists(payload.marker) and not dst.exists()


def test_missing_num_batches_tracked_is_filled_like_batchnorm_does():
    # PyTorch < 0.4.1 checkpoints have no num_batches_tracked; BatchNorm's
    # own loader accepts them, so the converter does too.
    reference = randomise(build_community_net('resnet8'), seed=8)
    state_dict = {
        k: v
        for k, v in reference.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }
    model = build_mmunix_model(model_config('resnet8'))

    model.load_state_dict(
        convert_community_state_dict(state_dict, model), strict=True)

    assert_same_outputs(reference, model, 'resnet8')


@pytest.mark.parametrize('prefix,expected', [
    ('classifier_head.', 'has none of the classifier weights'),
    ('head.fc.', 'has mmunix keys (head.fc.weight) already'),
])
def test_state_dict_without_community_classifier_is_rejected(
        prefix, expected):
    state_dict = build_community_net('resnet8').state_dict()
    for name in ('weight', 'bias'):
        state_dict[prefix + name] = state_dict.pop('fc.' + name)
    model = build_mmunix_model(model_config('resnet8'))

    with pytest.raises(ValueError) as error:
        convert_community_state_dict(state_dict, model)
    assert expected in str(error.value)
