"""FitNetsLoss, VIDLoss and CRDLoss: the losses with trainable parts.

Each value is checked against a plain-PyTorch computation written here; the
distiller tests check what trains, which memory rows CRD updates under KD and
UNIX, and the errors that name the key to fix.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmunix.models.connectors import ConvBNConnector
from mmunix.models.losses import CRDLoss, FitNetsLoss, VIDLoss
from mmunix.registry import MODELS
from mmunix.utils import register_all_modules

register_all_modules()

RESNET8_STAGES = (16, 32, 64)


def fixed_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Overwrite every parameter with seeded values, away from the defaults."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return module


def conv1x1(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A bias-free 1x1 convolution as a matrix product over channels."""
    return torch.einsum('oc,nchw->nohw', weight[:, :, 0, 0], x)


# ---------------------------------------------------------------- FitNets ---
def test_connector_is_conv_bn_relu_without_a_bias():
    connector = ConvBNConnector(3, 5)
    assert connector.conv.bias is None
    assert connector.conv.kernel_size == (1, 1)
    x = torch.randn(4, 3, 2, 2)
    assert connector(x).shape == (4, 5, 2, 2)
    assert (connector(x) >= 0).all()
    strided = ConvBNConnector(3, 5, kernel_size=3, stride=2, with_relu=False)
    assert strided(torch.randn(2, 3, 8, 8)).shape == (2, 5, 4, 4)
    with pytest.raises(ValueError, match='stride=0 must be a positive int'):
        ConvBNConnector(3, 5, stride=0)


def test_connector_keeps_pytorchs_default_initialisation():
    # PyTorch draws a 1x1 convolution's weights uniformly within
    # 1/sqrt(fan_in) = 1/8 here; ConvModule's Kaiming normal (fan-out, std
    # sqrt(2/64) = 0.18) would exceed that for many of the 4096 weights.
    weight = ConvBNConnector(64, 64).conv.weight
    assert weight.abs().max() <= 1 / 8
    assert weight.abs().max() > 0.9 / 8


def test_fitnets_is_the_mse_of_the_connector_output():
    loss = FitNetsLoss(3, 4, loss_weight=100.)
    fixed_(loss)
    student = torch.randn(2, 3, 5, 5)
    teacher = torch.rand(2, 4, 5, 5)

    bn = loss.connectors[0].bn
    y = conv1x1(loss.connectors[0].conv.weight, student)
    mean = y.mean(dim=(0, 2, 3), keepdim=True)
    var = y.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    y = (y - mean) / torch.sqrt(var + 1e-5)
    y = y * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    expected = 100. * ((y.clamp(min=0) - teacher)**2).mean()

    torch.testing.assert_close(loss((student, ), (teacher, )), expected)


def test_fitnets_sums_over_stage_pairs_with_one_connector_each():
    loss = fixed_(FitNetsLoss((3, 2), (4, 6))).eval()
    student = (torch.randn(2, 3, 4, 4), torch.randn(2, 2, 2, 2))
    teacher = (torch.rand(2, 4, 4, 4), torch.rand(2, 6, 2, 2))
    expected = sum(
        F.mse_loss(connector(s), t)
        for connector, s, t in zip(loss.connectors, student, teacher))
    assert len(loss.connectors) == 2
    torch.testing.assert_close(loss(student, teacher), expected)


def test_fitnets_of_a_connector_that_reproduces_the_teacher_is_zero():
    # Identity convolution, BatchNorm in eval mode with statistics (0, 1 -
    # eps): the connector passes non-negative features through unchanged.
    loss = FitNetsLoss(2, 2).eval()
    connector = loss.connectors[0]
    with torch.no_grad():
        connector.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        connector.bn.running_var.fill_(1 - connector.bn.eps)
    feats = torch.rand(3, 2, 4, 4)
    assert loss(feats, feats.clone()).item() == 0.0


def test_fitnets_regresses_only_the_stages_it_is_given():
    # out_indices=(1, 2, 3) returns three stages; the hint is the second.
    loss = fixed_(FitNetsLoss(4, 6, stages=(1, ))).eval()
    student = (torch.randn(2, 2, 8,
                           8), torch.randn(2, 4, 4,
                                           4), torch.randn(2, 8, 2, 2))
    teacher = (torch.rand(2, 3, 8, 8), torch.rand(2, 6, 4,
                                                  4), torch.rand(2, 9, 2, 2))
    expected = F.mse_loss(loss.connectors[0](student[1]), teacher[1])
    torch.testing.assert_close(loss(student, teacher), expected)
    last = fixed_(FitNetsLoss(8, 9, stages=(-1, ))).eval()
    torch.testing.assert_close(
        last(student, teacher),
        F.mse_loss(last.connectors[0](student[2]), teacher[2]))
    with pytest.raises(
            ValueError,
            match=r'stages=\(3,\) are positions in '
            'the 3 stage outputs'):
        FitNetsLoss(4, 6, stages=(3, ))(student, teacher)
    with pytest.raises(ValueError, match='must be a sequence of 1 int'):
        FitNetsLoss(4, 6, stages=(0, 1))


def test_fitnets_names_the_argument_for_a_channel_mismatch():
    loss = FitNetsLoss(student_channels=32, teacher_channels=32)
    with pytest.raises(
            ValueError,
            match=r'FitNetsLoss was built for student_channels=32, but the '
            r"student's stage outputs \(model\.student\.backbone\."
            r'out_indices selects them\) have 64 channels: set '
            r'student_channels=64 in the FitNetsLoss config'):
        loss(torch.randn(2, 64, 4, 4), torch.randn(2, 32, 4, 4))
    two_stages = FitNetsLoss((32, 32), (16, 32))
    with pytest.raises(
            ValueError,
            match=r'built for teacher_channels=\(16, 32\), .* have '
            r'\(16, 64\) channels: set teacher_channels=\(16, 64\)'):
        two_stages([torch.randn(2, 32, 4, 4)] * 2,
                   [torch.randn(2, 16, 4, 4),
                    torch.randn(2, 64, 4, 4)])


def test_fitnets_names_the_stride_for_a_resolution_mismatch():
    with pytest.raises(ValueError, match=r'\(2, 8, 4, 4\).*stride=2'):
        FitNetsLoss(4, 8)(torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4))
    strided = FitNetsLoss(
        4, 8, connector=dict(type='ConvBNConnector', kernel_size=3, stride=2))
    assert strided(torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)) > 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(student_channels=0,
          teacher_channels=4), r'student_channels=0 must be a positive int'),
    (dict(student_channels=(16, 32),
          teacher_channels=(16, )), r'must name as many outputs'),
    (dict(
        student_channels=4,
        teacher_channels=4,
        connector=dict(type='ConvBNConnector', in_channels=4)),
     r'connector sets in_channels; give the channel counts as '
     r'student_channels'),
])
def test_fitnets_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FitNetsLoss(**kwargs)


# -------------------------------------------------------------------- VID ---
def test_vid_starts_at_the_initial_variance():
    # A zero mean leaves 0.5 * (mean(t^2) / 5 + ln 5).
    loss = VIDLoss(3, 4)
    for conv in loss.regressors[0].mean[::2]:
        torch.nn.init.zeros_(conv.weight)
    teacher = torch.randn(2, 4, 3, 3)
    expected = 0.5 * (teacher.pow(2).mean() / 5 + math.log(5))
    torch.testing.assert_close(
        loss(torch.randn(2, 3, 3, 3), teacher), expected, rtol=1e-5, atol=0)


def test_vid_is_the_gaussian_negative_log_likelihood():
    loss = fixed_(VIDLoss((3, 2), (4, 5), mid_channels=(6, 7)))
    student = (torch.randn(2, 3, 4, 4), torch.randn(2, 2, 4, 4))
    # The second teacher stage is larger: it is pooled to 4x4 first.
    teacher = (torch.randn(2, 4, 4, 4), torch.randn(2, 5, 8, 8))

    expected = 0
    for regressor, s, t in zip(loss.regressors, student, teacher):
        w1, w2, w3 = (conv.weight for conv in regressor.mean[::2])
        mean = conv1x1(w3, conv1x1(w2, conv1x1(w1, s).relu()).relu())
        if t.shape[-1] == 8:
            t = t.view(2, 5, 4, 2, 4, 2).mean(dim=(3, 5))
        var = torch.log(1 + torch.exp(regressor.log_scale)) + 1e-5
        var = var.view(1, -1, 1, 1)
        expected += (0.5 * ((mean - t)**2 / var + torch.log(var))).mean()

    assert regressor.mean[0].weight.shape == (7, 2, 1, 1)
    torch.testing.assert_close(loss(student, teacher), expected)


def test_vid_refuses_bad_arguments():
    with pytest.raises(
            ValueError, match=r'mid_channels=\(8,\) must name as '
            'many stages'):
        VIDLoss((4, 4), (4, 4), mid_channels=(8, ))
    with pytest.raises(ValueError, match='0 < eps < init_pred_var'):
        VIDLoss(4, 4, init_pred_var=0.)
    with pytest.raises(
            ValueError, match=r'VIDLoss was built for '
            r'teacher_channels=8'):
        VIDLoss(4, 8)(torch.randn(2, 4, 2, 2), torch.randn(2, 4, 2, 2))


# -------------------------------------------------------------------- CRD ---
def crd(**kwargs):
    cfg = dict(
        student_channels=3,
        teacher_channels=5,
        num_samples=10,
        feat_dim=4,
        num_negatives=6)
    cfg.update(kwargs)
    return fixed_(CRDLoss(**cfg))


def plain_crd(loss: CRDLoss, student_memory, teacher_memory, student, teacher,
              indices, seed):
    """The CRD loss of the reference, written out; the banks as given."""
    torch.manual_seed(seed)
    num, k = loss.num_samples, loss.num_negatives
    contrast = torch.randint(num, (student.size(0), k + 1))
    contrast[:, 0] = indices
    linear_s, linear_t = loss.embed_student.linear, loss.embed_teacher.linear
    v_s = student @ linear_s.weight.t() + linear_s.bias
    v_t = teacher @ linear_t.weight.t() + linear_t.bias
    v_s = v_s / v_s.pow(2).sum(1, keepdim=True).sqrt()
    v_t = v_t / v_t.pow(2).sum(1, keepdim=True).sqrt()
    p_s = torch.exp((teacher_memory[contrast] * v_s[:, None]).sum(2) / 0.07)
    p_t = torch.exp((student_memory[contrast] * v_t[:, None]).sum(2) / 0.07)
    z = (p_s.mean() * num, p_t.mean() * num)
    c = k / num

    def contrastive(p):
        return -(torch.log(p[:, 0] / (p[:, 0] + c + 1e-7)).sum() +
                 torch.log(c / (p[:, 1:] + c + 1e-7)).sum()) / p.size(0)

    return contrastive(p_s / z[0]) + contrastive(p_t / z[1]), v_s, v_t, z


def test_crd_is_the_reference_nce_and_updates_only_the_given_rows():
    loss = crd(loss_weight=0.8)
    student, teacher = torch.randn(3, 3), torch.randn(3, 5)
    indices = torch.tensor([7, 2, 9])
    banks = (loss.student_memory.clone(), loss.teacher_memory.clone())
    expected, v_s, v_t, z = plain_crd(
        loss, *banks, student, teacher, indices, seed=5)

    torch.manual_seed(5)
    value = loss(student, teacher, sample_indices=indices)

    torch.testing.assert_close(value, 0.8 * expected)
    torch.testing.assert_close(loss.normalizers, torch.stack(z))
    for bank, before, v in zip((loss.student_memory, loss.teacher_memory),
                               banks, (v_s, v_t)):
        changed = (bank != before).any(dim=1).nonzero().flatten().tolist()
        assert changed == [2, 7, 9]
        row = 0.5 * before[indices] + 0.5 * v
        torch.testing.assert_close(bank[indices],
                                   row / row.norm(dim=1, keepdim=True))


def test_crd_keeps_its_first_normalizers_and_is_reproducible_with_a_seed():
    # The banks' initialisation draws from torch's generator as well.
    torch.manual_seed(3)
    first = crd()
    torch.manual_seed(3)
    second = crd()
    student, teacher = torch.randn(4, 3), torch.randn(4, 5)
    values = []
    for loss in (first, second):
        torch.manual_seed(0)
        values.append(
            loss(student, teacher, sample_indices=torch.arange(4)).item())
    assert values[0] == values[1]

    z = first.normalizers.clone()
    torch.manual_seed(1)
    first(student * 3, teacher, sample_indices=torch.arange(4, 8))
    assert torch.equal(first.normalizers, z) and (z > 0).all()


def test_crd_normalizers_and_banks_come_back_with_the_state_dict():
    trained = crd()
    trained(
        torch.randn(2, 3), torch.randn(2, 5), sample_indices=torch.arange(2))
    fresh = crd()
    fresh(torch.randn(2, 3), torch.randn(2, 5), sample_indices=torch.arange(2))
    fresh.load_state_dict(trained.state_dict())
    for key, value in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert set(trained.state_dict()) >= {
        'student_memory', 'teacher_memory', 'normalizers'
    }
    # A state saved before any step brings unset normalizers, which the next
    # step sets again instead of dividing by -1.
    fresh.load_state_dict(crd().state_dict())
    fresh(torch.randn(2, 3), torch.randn(2, 5), sample_indices=torch.arange(2))
    assert (fresh.normalizers > 0).all()


def test_crd_in_eval_mode_changes_nothing():
    loss = crd().eval()
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    value = loss(
        torch.randn(2, 3),
        torch.randn(2, 5),
        sample_indices=torch.tensor([1, 3]))
    assert torch.isfinite(value)
    for key, tensor in loss.state_dict().items():
        assert torch.equal(tensor, before[key]), key


def test_crd_names_num_samples_for_an_index_beyond_the_banks():
    with pytest.raises(
            ValueError,
            match=r'CRDLoss: sample index 10 is outside the memory banks of '
            r'num_samples=10 rows; set num_samples of the CRDLoss config '
            r'\(model\.feature_losses\.<name>\.num_samples\) to the number of '
            r'training images, len\(train_dataloader\.dataset\)'):
        crd()(
            torch.randn(2, 3),
            torch.randn(2, 5),
            sample_indices=torch.tensor([3, 10]))


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_samples=0), 'num_samples=0 must be a positive int'),
    (dict(momentum=1.0), r'momentum=1\.0 must lie in \[0, 1\)'),
    (dict(temperature=0), 'temperature=0 must be positive'),
])
def test_crd_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        crd(**kwargs)


def test_crd_refuses_missing_indices_and_wrong_sizes():
    with pytest.raises(ValueError, match='needs sample_indices='):
        crd()(torch.randn(2, 3), torch.randn(2, 5))
    with pytest.raises(ValueError, match='was built for student_channels=3'):
        crd()(
            torch.randn(2, 4),
            torch.randn(2, 5),
            sample_indices=torch.arange(2))


# -------------------------------------------------------------- gradients ---
@pytest.mark.parametrize('loss, student_shape, teacher_shape, extra', [
    (FitNetsLoss(3, 4), (2, 3, 4, 4), (2, 4, 4, 4), {}),
    (VIDLoss(3, 4), (2, 3, 4, 4), (2, 4, 2, 2), {}),
    (CRDLoss(3, 4, num_samples=8, num_negatives=5), (2, 3),
     (2, 4), dict(sample_indices=torch.tensor([0, 5]))),
])
def test_gradient_reaches_student_and_loss_parameters_not_teacher(
        loss, student_shape, teacher_shape, extra):
    student = torch.randn(*student_shape, requires_grad=True)
    teacher = torch.randn(*teacher_shape, requires_grad=True)
    loss(student, teacher, **extra).backward()
    assert student.grad.abs().sum() > 0
    assert teacher.grad is None
    for name, param in loss.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


# ------------------------------------------------------ in the distiller ---
def classifier(arch):
    return dict(
        type='ImageClassifier',
        backbone=dict(type='CIFARResNet', arch=arch, out_indices=(1, 2, 3)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=64,
            loss=dict(type='CrossEntropyLoss')))


#: The three losses on resnet8 -> resnet14, whose stages have equal widths.
ALL_LOSSES = dict(
    loss_fitnets=dict(
        type='FitNetsLoss',
        student_channels=RESNET8_STAGES,
        teacher_channels=RESNET8_STAGES,
        loss_weight=100.),
    loss_vid=dict(
        type='VIDLoss',
        student_channels=RESNET8_STAGES,
        teacher_channels=RESNET8_STAGES),
    loss_crd=dict(
        type='CRDLoss',
        student_channels=64,
        teacher_channels=64,
        num_samples=64,
        num_negatives=16,
        loss_weight=0.8))


def distiller(unix: bool, feature_losses=ALL_LOSSES):
    preprocessor = dict(num_classes=10, mean=[0.] * 3, std=[1.] * 3)
    if unix:
        preprocessor.update(
            type='UNIXDataPreprocessor', num_selected=0.75, num_clean=0.5)
    return MODELS.build(
        dict(
            type='ClassificationDistiller',
            student=classifier('resnet8'),
            teacher=classifier('resnet14'),
            data_preprocessor=preprocessor,
            feature_losses=feature_losses))


def raw_batch(first_index=40, num=16):
    """Samples with dataset indices ``first_index ...``, as PackInputs gives
    them."""
    return dict(
        inputs=torch.rand(num, 3, 32, 32),
        data_samples=[
            DataSample(metainfo=dict(sample_idx=first_index + i)).set_gt_label(
                i % 10) for i in range(num)
        ])


def changed_rows(bank: torch.Tensor, before: torch.Tensor) -> set:
    return set((bank != before).any(dim=1).nonzero().flatten().tolist())


@pytest.mark.parametrize('unix', [False, True])
def test_one_optimizer_step_trains_student_and_loss_parameters(unix):
    model = distiller(unix).train()
    optim_wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(
                type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4)))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    log_vars = model.train_step(raw_batch(num=8), optim_wrapper)

    assert {'loss_fitnets', 'loss_vid', 'loss_crd'} <= set(log_vars)
    after = model.state_dict()
    for name, _ in model.feature_losses.named_parameters():
        key = f'feature_losses.{name}'
        assert not torch.equal(after[key], before[key]), key
    assert not torch.equal(after['student.backbone.conv1.weight'],
                           before['student.backbone.conv1.weight'])
    for key in before:
        if key.startswith('teacher.'):
            assert torch.equal(after[key], before[key]), key


@pytest.mark.parametrize('unix', [False, True])
def test_crd_updates_the_rows_of_the_base_images(unix):
    model = distiller(unix, dict(loss_crd=ALL_LOSSES['loss_crd'])).train()
    crd_loss = model.feature_losses.loss_crd
    kept, passed = [], []
    preprocessor = model.data_preprocessor
    if unix:
        mix_and_select = preprocessor.mix_and_select
        preprocessor.mix_and_select = lambda *args: kept.append(
            mix_and_select(*args)) or kept[-1]
    crd_loss.register_forward_pre_hook(
        lambda module, args, kwargs: passed.append(kwargs['sample_indices']),
        with_kwargs=True)
    banks = (crd_loss.student_memory.clone(), crd_loss.teacher_memory.clone())

    data = preprocessor(raw_batch(first_index=40), training=True)
    model(**data, mode='loss')

    if unix:
        # k = 12 of 16: the indices of the base images x[r_j], in order.
        expected = 40 + kept[0].base_positions
        assert expected.numel() == 12
    else:
        expected = torch.arange(40, 56)
    assert torch.equal(passed[0], expected)
    for bank, before in zip((crd_loss.student_memory, crd_loss.teacher_memory),
                            banks):
        assert changed_rows(bank, before) == set(expected.tolist())


def test_crd_index_beyond_num_samples_fails_in_the_distiller():
    model = distiller(False, dict(loss_crd=ALL_LOSSES['loss_crd'])).train()
    data = model.data_preprocessor(raw_batch(first_index=60), training=True)
    with pytest.raises(
            ValueError,
            match=r'sample index 64 is outside the '
            'memory banks of num_samples=64 rows'):
        model(**data, mode='loss')
