"""Tests for ``mmunix/models/losses``: the KD, AT and SP losses of step 7."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmunix.models.losses import ATLoss, KDLoss, SPLoss
from mmunix.models.losses.utils import pair_outputs
from mmunix.registry import MODELS

# Student rows [0, 0] -> p_s = (1/2, 1/2); teacher rows [ln 3, 0] -> p_t =
# (3/4, 1/4), so KL(p_t || p_s) = 3/4 ln(3/2) + 1/4 ln(1/2).
KL_EXAMPLE = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)


@pytest.mark.parametrize('cfg, loss_cls', [
    (dict(type='KDLoss', temperature=2.0), KDLoss),
    (dict(type='ATLoss', loss_weight=1000.0), ATLoss),
    (dict(type='SPLoss', loss_weight=3000.0), SPLoss),
])
def test_losses_build_from_the_registry(cfg, loss_cls):
    loss = MODELS.build(cfg)
    assert type(loss) is loss_cls
    assert loss.loss_weight == cfg.get('loss_weight', 1.0)


# ---------------------------------------------------------------- KDLoss ---
def test_kd_of_identical_logits_is_zero():
    logits = torch.randn(8, 100)
    assert KDLoss()(logits, logits.clone()).item() == 0.0


def test_kd_matches_a_hand_computed_example():
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[math.log(3), 0.]])
    torch.testing.assert_close(
        KDLoss(temperature=1.0)(student, teacher), torch.tensor(KL_EXAMPLE))


def test_kd_scales_by_temperature_squared():
    # Logits scaled by T give the same softened distributions at every T,
    # so only the T^2 factor changes.
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[math.log(3), 0.]])
    for temperature in (0.5, 2.0, 4.0):
        loss = KDLoss(temperature=temperature)(student * temperature,
                                               teacher * temperature)
        torch.testing.assert_close(loss,
                                   torch.tensor(temperature**2 * KL_EXAMPLE))


def test_kd_averages_over_the_batch():
    # One matching sample (KL 0) and the example: the batch mean is half.
    student = torch.zeros(2, 2)
    teacher = torch.tensor([[0., 0.], [math.log(3), 0.]])
    torch.testing.assert_close(
        KDLoss(temperature=1.0)(student, teacher),
        torch.tensor(KL_EXAMPLE / 2))


def test_kd_equals_the_reference_formula():
    student, teacher = torch.randn(6, 10), torch.randn(6, 10)
    temperature = 4.0
    p_t = F.softmax(teacher / temperature, dim=1)
    expected = (p_t * (p_t.log() - F.log_softmax(student / temperature, dim=1))
                ).sum() / 6 * temperature**2
    torch.testing.assert_close(KDLoss()(student, teacher), expected)


def test_kd_is_scaled_by_loss_weight():
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(
        KDLoss(loss_weight=0.5)(student, teacher),
        0.5 * KDLoss()(student, teacher))


@pytest.mark.parametrize('temperature', [0, -1.0, float('nan'), float('inf')])
def test_kd_refuses_a_non_positive_temperature(temperature):
    with pytest.raises(ValueError, match='temperature=.* must be positive'):
        KDLoss(temperature=temperature)


def test_kd_refuses_mismatched_logits():
    with pytest.raises(ValueError, match=r'\(4, 10\) and \(4, 100\)'):
        KDLoss()(torch.randn(4, 10), torch.randn(4, 100))


# ---------------------------------------------------------------- ATLoss ---
def at_example():
    """A stage pair whose AT loss is 0.5.

    Student, 2 channels: mean over channels of f^2 is (3, 4, 0, 0), so the
    attention is (0.6, 0.8, 0, 0). Teacher, 1 channel: attention (0, 0, 0, 1).
    Mean squared difference: (0.36 + 0.64 + 0 + 1) / 4 = 0.5.
    """
    student = torch.zeros(1, 2, 2, 2)
    student[0, 0, 0, 0] = math.sqrt(6)
    student[0, 1, 0, 1] = math.sqrt(8)
    teacher = torch.zeros(1, 1, 2, 2)
    teacher[0, 0, 1, 1] = 5.0
    return student, teacher


def test_at_of_identical_features_is_zero():
    feats = tuple(torch.randn(3, c, s, s) for c, s in ((8, 16), (16, 8)))
    assert ATLoss()(feats, tuple(f.clone() for f in feats)).item() == 0.0


def test_at_matches_a_hand_computed_example():
    student, teacher = at_example()
    torch.testing.assert_close(ATLoss()(student, teacher), torch.tensor(0.5))


def test_at_sums_over_stage_pairs():
    # Second pair: attention (1, 0) against (0, 1), mean squared diff 1.
    student, teacher = at_example()
    student_2 = torch.tensor([[[[2., 0.]]]])
    teacher_2 = torch.tensor([[[[0., 3.]]]])
    loss = ATLoss()((student, student_2), (teacher, teacher_2))
    torch.testing.assert_close(loss, torch.tensor(1.5))


def test_at_is_scaled_by_loss_weight():
    student, teacher = at_example()
    torch.testing.assert_close(
        ATLoss(loss_weight=1000.)([student], [teacher]), torch.tensor(500.))


@pytest.mark.parametrize('student_size, teacher_size', [
    ((4, 4), (2, 2)),
    ((2, 2), (4, 4)),
    ((4, 2), (2, 4)),
])
def test_at_pools_the_larger_map_to_the_smaller(student_size, teacher_size):
    student = torch.rand(2, 3, *student_size)
    teacher = torch.rand(2, 5, *teacher_size)
    common = tuple(map(min, student_size, teacher_size))
    expected = ATLoss()(F.adaptive_avg_pool2d(student, common),
                        F.adaptive_avg_pool2d(teacher, common))
    torch.testing.assert_close(ATLoss()(student, teacher), expected)
    assert expected > 0


def test_at_pooling_averages_features_before_attention():
    # Each 2x2 block of the student is constant and equals the teacher pixel,
    # so pooling the student's features reproduces the teacher exactly.
    teacher = torch.tensor([[[[1., 2.], [3., 4.]]]])
    student = F.interpolate(teacher, scale_factor=2, mode='nearest')
    assert ATLoss()(student, teacher).item() == 0.0


def test_at_refuses_different_stage_counts():
    feats = [torch.randn(2, 4, 8, 8)] * 3
    with pytest.raises(
            ValueError,
            match='student gives 3 feature maps and '
            'the teacher 2; set out_indices of the same length'):
        ATLoss()(feats, feats[:2])


def test_pair_outputs_wraps_a_tensor_and_detaches_the_teacher():
    student = torch.ones(2, 3, requires_grad=True)
    teacher = torch.zeros(2, 3, requires_grad=True)
    (pair, ) = pair_outputs('CosineKDLoss', student, teacher)
    assert pair[0] is student
    assert torch.equal(pair[1], teacher) and not pair[1].requires_grad

    stages = [torch.ones(2, 4, 8, 8), torch.ones(2, 8, 4, 4)]
    pairs = pair_outputs('ATLoss', stages, [s * 2 for s in stages])
    assert [s.shape for s, _ in pairs] == [s.shape for s in stages]
    assert all(torch.equal(t, s * 2) for s, t in pairs)


# ---------------------------------------------------------------- SPLoss ---
def test_sp_of_identical_features_is_zero():
    feats = torch.randn(4, 8, 3, 3)
    assert SPLoss()(feats, feats.clone()).item() == 0.0


def test_sp_matches_a_hand_computed_example():
    # Student rows are orthogonal: G_s = I. Teacher rows are equal: every
    # row of G_t normalises to (1, 1) / sqrt 2. Squared Frobenius distance
    # 4 - 2 sqrt 2, divided by N^2 = 4.
    student = torch.tensor([[1., 0.], [0., 1.]]).view(2, 2, 1, 1)
    teacher = torch.tensor([[1., 0.], [1., 0.]]).view(2, 1, 2, 1)
    torch.testing.assert_close(SPLoss()(student, teacher),
                               torch.tensor(1 - math.sqrt(2) / 2))


def test_sp_is_scaled_by_loss_weight():
    student, teacher = torch.randn(4, 3, 2, 2), torch.randn(4, 6, 1, 1)
    torch.testing.assert_close(
        SPLoss(loss_weight=3000.)(student, teacher),
        3000. * SPLoss()(student, teacher))


def test_sp_uses_only_the_last_stage():
    last = torch.randn(4, 8, 2, 2)
    student = (torch.randn(4, 2, 8, 8), last)
    teacher = (torch.randn(4, 3, 4, 4), torch.randn(4, 6, 4, 4), last.clone())
    assert SPLoss()(student, teacher).item() == 0.0
    torch.testing.assert_close(SPLoss()(student, teacher[:2]),
                               SPLoss()(last, teacher[1]))


def test_sp_refuses_different_batch_sizes():
    with pytest.raises(ValueError, match='batch sizes 4 and 3'):
        SPLoss()(torch.randn(4, 2), torch.randn(3, 2))


# ------------------------------------------------------------- gradients ---
@pytest.mark.parametrize('loss, shapes', [
    (KDLoss(), ((4, 10), (4, 10))),
    (ATLoss(), ((4, 3, 8, 8), (4, 5, 4, 4))),
    (SPLoss(), ((4, 3, 8, 8), (4, 5, 4, 4))),
])
def test_gradient_reaches_the_student_but_not_the_teacher(loss, shapes):
    student = torch.randn(*shapes[0], requires_grad=True)
    teacher = torch.randn(*shapes[1], requires_grad=True)
    loss(student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None
