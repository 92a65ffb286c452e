"""tools/model_converters/community_to_mmunix.py and its conversion functions.

A reference community network (tests/community_nets.py) with random weights and
BatchNorm statistics is saved in the community layout, converted, and loaded
into the mmunix model of ``configs/_base_/models/cifar/<arch>.py``; both must
then compute the same features and logits.
"""
import os
import os.path as osp
import shutil

import pytest
import torch
import torch.nn as nn
from community_nets import ARCHS, build_community_net  # tests/ on sys.path
from conftest import (PYTHON, REPO_ROOT, assert_ok, run_script_in_process,
                      run_tool, tiny_run_options)
from mmengine.config import Config
from mmengine.runner import load_checkpoint

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
    """One intra-op thread: tiny batches gain nothing from two, and on a shared
    2-core machine a second spinning thread makes them much slower."""
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


@pytest.mark.slow
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


def run_converter(monkeypatch, src, dst, *options, config=None):
    """Run the tool in this process (a fresh one would spend seconds on
    imports) with ``--config`` resnet8 unless given; returns its exit message,
    None if it succeeded."""
    config = config or model_config('resnet8')
    return run_script_in_process(monkeypatch, CONVERTER, src, dst, '--config',
                                 config, *options)


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
def test_state_dict_without_community_classifier_is_rejected(prefix, expected):
    state_dict = build_community_net('resnet8').state_dict()
    for name in ('weight', 'bias'):
        state_dict[prefix + name] = state_dict.pop('fc.' + name)
    model = build_mmunix_model(model_config('resnet8'))

    with pytest.raises(ValueError) as error:
        convert_community_state_dict(state_dict, model)
    assert expected in str(error.value)


def save_resnet8(path) -> bytes:
    """A resnet8 in RepDistiller's layout; the bytes of the file."""
    torch.save({'model': build_community_net('resnet8').state_dict()}, path)
    return path.read_bytes()


def test_missing_src_is_named(tmp_path, monkeypatch):
    src, dst = tmp_path / 'community.pth', tmp_path / 'converted.pth'

    message = run_converter(monkeypatch, src, dst)

    assert message == f'community_to_mmunix: error: {src}: SRC does not exist.'
    assert not dst.exists()


def test_missing_config_is_named(tmp_path, monkeypatch):
    src, dst = tmp_path / 'community.pth', tmp_path / 'converted.pth'
    save_resnet8(src)
    config = tmp_path / 'resnet8.py'

    message = run_converter(monkeypatch, src, dst, config=config)

    assert message == (
        f'community_to_mmunix: error: {config}: --config does not exist.')
    assert not dst.exists()


def test_config_without_a_model_asks_for_a_model_config(tmp_path, monkeypatch):
    src, dst = tmp_path / 'community.pth', tmp_path / 'converted.pth'
    save_resnet8(src)
    config = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                      'cifar100_bs64.py')

    message = run_converter(monkeypatch, src, dst, config=config)

    assert message == (
        f'community_to_mmunix: error: {config}: --config defines no `model`, '
        "so it cannot describe the checkpoint's network: pass the model "
        'config of that network, e.g. '
        'configs/_base_/models/cifar/resnet56.py, or a teacher config, e.g. '
        'configs/teachers/resnet56_cifar100.py.')
    assert not dst.exists()


def test_distillation_config_asks_for_the_config_of_one_network(
        tmp_path, monkeypatch):
    # From the repository root, its teacher and student files are shown
    # the way the user would type them.
    monkeypatch.chdir(REPO_ROOT)
    src, dst = tmp_path / 'community.pth', tmp_path / 'converted.pth'
    save_resnet8(src)
    config = 'configs/kd_r56_r20_cifar100.py'

    message = run_converter(monkeypatch, src, dst, config=config)

    assert message == (
        f'community_to_mmunix: error: {config}: --config is a distillation '
        "config (model.type='ClassificationDistiller'), which holds two "
        'networks: pass the teacher config or the model config of the '
        'network whose checkpoint this is, e.g. '
        'configs/teachers/resnet56_cifar100.py or '
        'configs/_base_/models/cifar/resnet20.py (its teacher and student).')
    assert not dst.exists()


def test_distiller_of_inline_networks_gets_example_configs(
        tmp_path, monkeypatch):
    src, dst = tmp_path / 'community.pth', tmp_path / 'converted.pth'
    save_resnet8(src)
    config = tmp_path / 'distiller.py'
    network = ("dict(type='ImageClassifier', backbone=dict("
               "type='CIFARResNet', arch='resnet8'))")
    config.write_text("model = dict(type='mmunix.ClassificationDistiller', "
                      f'teacher={network}, student={network})\n')

    message = run_converter(monkeypatch, src, dst, config=config)

    assert message == (
        f'community_to_mmunix: error: {config}: --config is a distillation '
        "config (model.type='mmunix.ClassificationDistiller'), which holds "
        'two networks: pass the teacher config or the model config of the '
        'network whose checkpoint this is, e.g. '
        'configs/teachers/resnet56_cifar100.py or '
        'configs/_base_/models/cifar/resnet56.py.')


def test_dst_naming_a_directory_is_refused(tmp_path, monkeypatch):
    src, dst = tmp_path / 'community.pth', tmp_path / 'converted'
    save_resnet8(src)
    dst.mkdir()

    message = run_converter(monkeypatch, src, dst)

    assert message == (f'community_to_mmunix: error: {dst}: DST is a '
                       'directory; give the path of the file to write.')
    assert os.listdir(dst) == []


@pytest.mark.parametrize('input_', ['SRC', '--config'])
def test_dst_that_is_an_input_is_refused_even_with_overwrite(
        tmp_path, monkeypatch, input_):
    src, config = tmp_path / 'community.pth', tmp_path / 'resnet8.py'
    content = save_resnet8(src)
    shutil.copy(model_config('resnet8'), config)
    # Another spelling of the same file.
    dst = tmp_path / 'link'
    os.symlink(src if input_ == 'SRC' else config, dst)
    source = src if input_ == 'SRC' else config

    message = run_converter(
        monkeypatch, src, dst, '--overwrite', config=config)

    assert message == (
        f'community_to_mmunix: error: {dst}: DST is the same file as {input_} '
        f'({source}) and would replace it; give another DST (even '
        f'--overwrite never replaces {input_}).')
    assert src.read_bytes() == content
    assert config.read_text() == open(model_config('resnet8')).read()


def test_existing_dst_is_kept_unless_overwrite_is_given(tmp_path, monkeypatch):
    src, dst = tmp_path / 'community.pth', tmp_path / 'converted.pth'
    save_resnet8(src)
    dst.write_bytes(b'an older conversion')

    message = run_converter(monkeypatch, src, dst)

    assert message == (f'community_to_mmunix: error: {dst}: DST exists; pass '
                       '--overwrite to replace it.')
    assert dst.read_bytes() == b'an older conversion'

    assert run_converter(monkeypatch, src, dst, '--overwrite') is None
    model = build_mmunix_model(model_config('resnet8'))
    checkpoint = load_checkpoint(model, str(dst), strict=True)
    assert checkpoint['meta']['source'] == str(src)


def test_debug_raises_the_user_error_with_its_cause(tmp_path, monkeypatch):
    src, dst = tmp_path / 'community.pth', tmp_path / 'converted.pth'
    torch.save(
        {
            'model':
            corrupt(build_community_net('resnet8').state_dict(), 'missing')
        }, src)

    with pytest.raises(Exception) as error:
        run_converter(monkeypatch, src, dst, '--debug')

    assert type(error.value).__name__ == 'UserError'
    assert str(error.value).startswith(
        f'{src}: The converted checkpoint does not match the model')
    assert isinstance(error.value.__cause__, ValueError)
    assert not dst.exists()


def test_an_error_that_is_not_the_users_keeps_its_traceback(
        tmp_path, monkeypatch):
    src = tmp_path / 'community.pth'
    save_resnet8(src)
    # Longer than the 255 bytes a file system allows a name: writing fails
    # with an OSError, which the tool does not turn into a message.
    dst = tmp_path / ('c' * 252 + '.pth')

    with pytest.raises(OSError, match='File name too long'):
        run_converter(monkeypatch, src, dst)
