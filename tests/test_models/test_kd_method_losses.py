"""DKD, PKT, RKD and NST: each loss against a plain re-computation of its
formula, and what the distiller feeds them under KD and UNIX."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub, MMLogger
from test_classification_distiller import batch, classifier, distiller

from mmunix.models.losses import DKDLoss, NSTLoss, PKTLoss, RKDLoss
from mmunix.registry import MODELS


@pytest.mark.parametrize('cfg, loss_cls, distill_input', [
    (dict(type='DKDLoss', beta=2.0), DKDLoss, 'logits'),
    (dict(type='PKTLoss', loss_weight=30000.), PKTLoss, 'embedding'),
    (dict(type='RKDLoss'), RKDLoss, 'embedding'),
    (dict(type='NSTLoss', loss_weight=50.), NSTLoss, 'stages'),
])
def test_losses_build_and_declare_their_inputs(cfg, loss_cls, distill_input):
    loss = MODELS.build(cfg)
    assert type(loss) is loss_cls
    assert loss.loss_weight == cfg.get('loss_weight', 1.0)
    assert loss.distill_input == distill_input
    assert getattr(loss, 'uses_labels', False) == (loss_cls is DKDLoss)
    assert not getattr(loss, 'uses_sample_indices', False)


# ------------------------------------------------------------------- DKD ---
def reference_dkd(student, teacher, labels, alpha, beta, temperature):
    """DKD as the paper writes it: probabilities, binary target/non-target
    split, a softmax renormalised over the non-target classes."""
    p_s = F.softmax(student / temperature, dim=1)
    p_t = F.softmax(teacher / temperature, dim=1)
    target = F.one_hot(labels, student.size(1)).bool()
    b_s = torch.stack([p_s[target], p_s[~target].view(len(labels), -1).sum(1)],
                      dim=1)
    b_t = torch.stack([p_t[target], p_t[~target].view(len(labels), -1).sum(1)],
                      dim=1)
    tckd = (b_t * (b_t / b_s).log()).sum(1).mean()
    q_s = p_s[~target].view(len(labels), -1)
    q_t = p_t[~target].view(len(labels), -1)
    q_s = q_s / q_s.sum(1, keepdim=True)
    q_t = q_t / q_t.sum(1, keepdim=True)
    nckd = (q_t * (q_t / q_s).log()).sum(1).mean()
    return temperature**2 * (alpha * tckd + beta * nckd)


def test_dkd_matches_hand_computed_examples():
    # Student [0, 0, 0]: p_s = (1, 1, 1) / 3. Teacher [ln 2, 0, ln 3]:
    # p_t = (2, 1, 3) / 6.
    student = torch.zeros(2, 3)
    teacher = torch.tensor([[math.log(2), 0., math.log(3)]] * 2)
    # Target 0: b_t = (1/3, 2/3) = b_s, so TCKD = 0; the non-target
    # distributions are (1/4, 3/4) and (1/2, 1/2).
    nckd_0 = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    # Target 2: b_t = (1/2, 1/2) against b_s = (1/3, 2/3); non-target
    # (2/3, 1/3) against (1/2, 1/2).
    tckd_2 = 0.5 * math.log(1.5) + 0.5 * math.log(0.75)
    nckd_2 = 2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3)
    loss = DKDLoss(alpha=3.0, beta=5.0, temperature=1.0, warmup_epochs=0)
    torch.testing.assert_close(
        loss(student, teacher, torch.tensor([0, 2])),
        torch.tensor((5.0 * nckd_0 + 3.0 * tckd_2 + 5.0 * nckd_2) / 2))


@pytest.mark.parametrize('alpha, beta, temperature', [(1.0, 8.0, 4.0),
                                                      (1.0, 2.0, 4.0),
                                                      (0.5, 0.0, 1.0)])
def test_dkd_equals_the_reference_formula(alpha, beta, temperature):
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 10) * 3, torch.randn(6, 10) * 3
    labels = torch.tensor([0, 9, 3, 3, 5, 1])
    loss = DKDLoss(alpha, beta, temperature, warmup_epochs=0, loss_weight=2.)
    torch.testing.assert_close(
        loss(student, teacher, labels),
        2. * reference_dkd(student, teacher, labels, alpha, beta, temperature))


def test_dkd_stays_finite_where_probabilities_underflow():
    # A teacher sure of its class gives p_t of the others below float32's
    # range; the log-space computation still gives a finite loss and
    # gradient.
    student = torch.zeros(2, 5, requires_grad=True)
    teacher = torch.tensor([[1e4, 0., 0., 0., 0.]] * 2)
    value = DKDLoss(warmup_epochs=0)(student, teacher, torch.tensor([0, 1]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(student.grad).all()


@pytest.fixture
def message_hub(monkeypatch):
    """A fresh MessageHub that DKDLoss reads as the current instance."""
    hub = MessageHub('test_dkd_warmup')
    monkeypatch.setattr(MessageHub, 'get_current_instance',
                        staticmethod(lambda: hub))
    return hub


@pytest.mark.parametrize('epoch, factor', [(0, 1 / 20), (9, 0.5), (18, 0.95),
                                           (19, 1.0), (200, 1.0)])
def test_dkd_warms_up_over_the_first_epochs_of_training(
        message_hub, epoch, factor):
    student, teacher = torch.randn(4, 10), torch.randn(4, 10)
    labels = torch.tensor([1, 2, 3, 4])
    full = DKDLoss(warmup_epochs=0)(student, teacher, labels)
    message_hub.update_info('loop_stage', 'train')
    message_hub.update_info('epoch', epoch)
    loss = DKDLoss(warmup_epochs=20)
    assert loss.warmup_factor() == factor
    torch.testing.assert_close(loss(student, teacher, labels), factor * full)


def test_dkd_has_no_warm_up_outside_training(message_hub):
    loss = DKDLoss(warmup_epochs=20)
    assert loss.warmup_factor() == 1.0  # no epoch recorded
    message_hub.update_info('epoch', 0)
    message_hub.update_info('loop_stage', 'val')
    assert loss.warmup_factor() == 1.0
    message_hub.update_info('loop_stage', 'train')
    assert loss.warmup_factor() == 1 / 20


@pytest.mark.parametrize('kwargs, message', [
    (dict(temperature=0), 'temperature=0 must be positive'),
    (dict(beta=-1.0), 'beta=-1.0 must be non-negative'),
    (dict(alpha=float('inf')), 'alpha=inf must be non-negative'),
    (dict(warmup_epochs=2.5), 'warmup_epochs=2.5 must be a non-negative int'),
    (dict(warmup_epochs=-1), 'warmup_epochs=-1 must be a non-negative int'),
])
def test_dkd_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DKDLoss(**kwargs)


def test_dkd_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match=r'\(4, 10\) and \(4, 100\)'):
        DKDLoss()(torch.randn(4, 10), torch.randn(4, 100), torch.zeros(4))
    with pytest.raises(
            ValueError,
            match=r'labels must have shape \(N,\) = '
            r'\(4,\), got \(3,\)'):
        DKDLoss()(torch.randn(4, 10), torch.randn(4, 10), torch.zeros(3))


# ------------------------------------------------------------------- PKT ---
def reference_pkt(student, teacher, eps=1e-7):
    """The authors' formulation: cosine similarities in [0, 1], rows turned
    into distributions, KL averaged over all entries."""

    def distribution(x):
        x = x / (torch.sqrt((x**2).sum(1, keepdim=True)) + eps)
        sim = (torch.mm(x, x.t()) + 1.0) / 2.0
        return sim / sim.sum(1, keepdim=True)

    p_s, p_t = distribution(student), distribution(teacher)
    return torch.mean(p_t * torch.log((p_t + eps) / (p_s + eps)))


def test_pkt_matches_a_hand_computed_example():
    # Student rows are orthogonal: similarities [[1, 1/2], [1/2, 1]], rows
    # (2/3, 1/3). Teacher rows are equal: rows (1/2, 1/2). Each row's KL is
    # 1/2 ln(3/4) + 1/2 ln(3/2) = 1/2 ln(9/8), the mean over 4 entries half
    # of it (up to the 1e-7 of the reference's eps).
    student = torch.tensor([[2., 0.], [0., 3.]])
    teacher = torch.tensor([[1., 1., 0.], [2., 2., 0.]])
    torch.testing.assert_close(PKTLoss()(student, teacher),
                               torch.tensor(math.log(9 / 8) / 4))


def test_pkt_equals_the_reference_formula():
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 16), torch.randn(8, 64)
    torch.testing.assert_close(
        PKTLoss(loss_weight=30000.)(student, teacher),
        30000. * reference_pkt(student, teacher))


def test_pkt_of_identical_embeddings_is_zero_at_any_scale():
    embedding = torch.randn(5, 8)
    assert PKTLoss()(embedding, embedding.clone()).item() == 0.0
    # Only directions count: rescaling each sample changes nothing beyond
    # the eps.
    scaled = embedding * torch.arange(1., 6.).unsqueeze(1)
    assert PKTLoss()(scaled, embedding).item() == pytest.approx(0, abs=1e-7)


# ------------------------------------------------------------------- RKD ---
def reference_rkd(student, teacher, w_d, w_a):
    """RKD in the benchmark's formulation, with boolean indexing for the mean
    of the positive distances."""

    def pdist(e):
        sq = e.pow(2).sum(1)
        d = (sq.unsqueeze(1) + sq.unsqueeze(0) -
             2 * e @ e.t()).clamp(min=1e-12).sqrt().clone()
        d[range(len(e)), range(len(e))] = 0
        return d / d[d > 0].mean()

    def angle(e):
        diff = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)
        return torch.bmm(diff, diff.transpose(1, 2)).view(-1)

    return (w_d * F.smooth_l1_loss(pdist(student), pdist(teacher)) +
            w_a * F.smooth_l1_loss(angle(student), angle(teacher)))


def rkd_example():
    """Student: collinear points 0, 1, 2 on a line. Teacher: an equilateral
    triangle of side 1."""
    student = torch.tensor([[0.], [1.], [2.]])
    teacher = torch.tensor([[0., 0.], [1., 0.], [0.5, math.sqrt(3) / 2]])
    return student, teacher


def test_rkd_distance_term_matches_a_hand_computed_example():
    # Distances 1, 2, 1 over their mean 4/3 -> 3/4, 3/2, 3/4 against all 1:
    # smooth L1 0.5 x^2 gives 4 * 1/32 + 2 * 1/8 = 3/8 over 9 entries.
    student, teacher = rkd_example()
    loss = RKDLoss(distance_weight=1.0, angle_weight=0.0)
    torch.testing.assert_close(loss(student, teacher), torch.tensor(1 / 24))


def test_rkd_angle_term_matches_a_hand_computed_example():
    # Teacher cosines: 1 for i = l, 1/2 for i != l (60 degrees), 0 when i or
    # l is the anchor. Student: at the end points all directions agree
    # (cosine 1), at the middle point they oppose (-1). Differences 0.5 at
    # four triplets (smooth L1 0.125) and -1.5 at two (1.0): 2.5 / 27.
    student, teacher = rkd_example()
    loss = RKDLoss(distance_weight=0.0, angle_weight=1.0)
    torch.testing.assert_close(loss(student, teacher), torch.tensor(5 / 54))


def test_rkd_equals_the_reference_formula():
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 16), torch.randn(8, 64)
    student[3] = student[5]  # two equal embeddings: a distance of 1e-6
    torch.testing.assert_close(
        RKDLoss(loss_weight=2.)(student, teacher),
        2. * reference_rkd(student, teacher, 25., 50.))


def test_rkd_ignores_scale_and_translation_of_the_teacher():
    student = torch.randn(6, 4)
    teacher = 3 * student + torch.randn(1, 4)
    torch.testing.assert_close(
        RKDLoss()(student, teacher), torch.tensor(0.), atol=1e-5, rtol=0)


def test_rkd_of_a_single_sample_is_zero_not_nan():
    student = torch.randn(1, 4, requires_grad=True)
    value = RKDLoss()(student, torch.randn(1, 8))
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(student.grad).all()


def test_rkd_refuses_negative_weights():
    with pytest.raises(ValueError, match='angle_weight=-1 must be non-neg'):
        RKDLoss(angle_weight=-1)


# ------------------------------------------------------------------- NST ---
def reference_nst(student_feats, teacher_feats):
    """NST with the degree-2 polynomial kernel, by broadcasting over the
    channel pairs, summed over stages; square maps pooled to the smaller."""
    total = 0
    for f_s, f_t in zip(student_feats, teacher_feats):
        s_h, t_h = f_s.shape[2], f_t.shape[2]
        if s_h > t_h:
            f_s = F.adaptive_avg_pool2d(f_s, (t_h, t_h))
        elif s_h < t_h:
            f_t = F.adaptive_avg_pool2d(f_t, (s_h, s_h))
        f_s = F.normalize(f_s.view(f_s.shape[0], f_s.shape[1], -1), dim=2)
        f_t = F.normalize(f_t.view(f_t.shape[0], f_t.shape[1], -1), dim=2)

        def kernel(a, b):
            return (a.unsqueeze(1) * b.unsqueeze(2)).sum(-1).pow(2)

        total = total + (
            kernel(f_t, f_t).mean() + kernel(f_s, f_s).mean() -
            2 * kernel(f_s, f_t).mean())
    return total


def test_nst_matches_a_hand_computed_example():
    # One image. Student: one channel (1, 0). Teacher: channels (1, 0) and
    # (0, 1), already unit. Kernel means: student 1, teacher (1+0+0+1)/4,
    # cross (1 + 0)/2. MMD^2 = 1 + 1/2 - 2 * 1/2 = 1/2.
    student = torch.tensor([[[[1., 0.]]]])
    teacher = torch.tensor([[[[1., 0.]], [[0., 1.]]]])
    torch.testing.assert_close(NSTLoss()(student, teacher), torch.tensor(0.5))
    # Each channel map is normalised, so its scale does not count.
    torch.testing.assert_close(
        NSTLoss(loss_weight=50.)(student * 7, teacher * 3), torch.tensor(25.))


def test_nst_equals_the_reference_formula_summed_over_stages():
    torch.manual_seed(0)
    student = (torch.randn(3, 4, 8,
                           8), torch.randn(3, 8, 4,
                                           4), torch.randn(3, 8, 4, 4))
    teacher = (torch.randn(3, 6, 8, 8), torch.randn(3, 12, 4, 4),
               torch.randn(3, 16, 2, 2))  # the student's last map is pooled
    torch.testing.assert_close(
        NSTLoss(loss_weight=50.)(student, teacher),
        50. * reference_nst(student, teacher))


def test_nst_of_identical_features_is_zero():
    feats = (torch.rand(2, 4, 8, 8), torch.rand(2, 8, 4, 4))
    torch.testing.assert_close(
        NSTLoss()(feats, tuple(f.clone() for f in feats)),
        torch.tensor(0.),
        atol=1e-6,
        rtol=0)


def test_nst_refuses_different_stage_counts():
    feats = [torch.randn(2, 4, 8, 8)] * 3
    with pytest.raises(
            ValueError, match='student gives 3 feature maps and '
            'the teacher 2'):
        NSTLoss()(feats, feats[:2])


# ------------------------------------------------------------- gradients ---
@pytest.mark.parametrize(
    'loss, student_shape, teacher_shape', [
        (DKDLoss(warmup_epochs=0), (4, 10), (4, 10)),
        (PKTLoss(), (4, 16), (4, 32)),
        (RKDLoss(), (4, 16), (4, 32)),
        (NSTLoss(), (4, 3, 8, 8), (4, 5, 4, 4)),
    ],
    ids=['dkd', 'pkt', 'rkd', 'nst'])
def test_gradient_reaches_the_student_but_not_the_teacher(
        loss, student_shape, teacher_shape):
    torch.manual_seed(0)
    student = torch.randn(*student_shape, requires_grad=True)
    teacher = torch.randn(*teacher_shape, requires_grad=True)
    extra = dict(labels=torch.tensor([0, 3, 3, 9])) if getattr(
        loss, 'uses_labels', False) else {}
    value = loss(student, teacher, **extra)
    assert value.requires_grad
    value.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert torch.isfinite(student.grad).all()
    assert teacher.grad is None


# ------------------------------------------------ in the distiller ---
def with_stages(arch):
    """A classifier of test_classification_distiller.py whose backbone gives
    its three residual stages."""
    return dict(
        classifier(arch),
        backbone=dict(type='CIFARResNet', arch=arch, out_indices=(1, 2, 3)))


def staged_distiller(unix, feature_losses, **kwargs):
    """The resnet14 -> resnet8 distiller of test_classification_distiller.py
    with only ``feature_losses``, on the three residual stages."""
    cfg = dict(student=with_stages('resnet8'), teacher=with_stages('resnet14'))
    cfg.update(kwargs)
    return distiller(
        unix=unix, kd_loss=None, feature_losses=feature_losses, **cfg)


@pytest.mark.parametrize('slot', ['kd_loss', 'feature_losses'])
@pytest.mark.parametrize('unix', [False, True], ids=['kd', 'unix'])
def test_dkd_gets_the_labels_of_the_base_images(unix, slot):
    torch.manual_seed(0)
    dkd = dict(type='DKDLoss', beta=2.0, warmup_epochs=0)
    if slot == 'kd_loss':  # in place of KDLoss, logged as loss_kd
        model, key = distiller(unix=unix, kd_loss=dkd).train(), 'loss_kd'
        loss = model.kd_loss
    else:
        model = staged_distiller(unix, dict(loss_dkd=dkd)).train()
        key, loss = 'loss_dkd', model.feature_losses['loss_dkd']
    calls = []
    loss.register_forward_hook(
        lambda module, args, kwargs, out: calls.append((args, kwargs)),
        with_kwargs=True)
    mixed = []
    if unix:
        mix_and_select = model.data_preprocessor.mix_and_select

        def record(*args, **kwargs):
            mixed.append(mix_and_select(*args, **kwargs))
            return mixed[-1]

        model.data_preprocessor.mix_and_select = record
    data = batch(model)
    labels = torch.cat([s.gt_label for s in data['data_samples']])

    losses = model(**data, mode='loss')

    ((student_logits, teacher_logits), kwargs), = calls
    if unix:
        (mixed_batch, ) = mixed
        expected = labels[mixed_batch.base_positions]  # y_a = y[r_j]
        assert len(expected) == 12
        torch.testing.assert_close(mixed_batch.labels_a, expected)
        # The partners' labels differ somewhere, so y_a is a real choice.
        assert not torch.equal(mixed_batch.labels_b, expected)
    else:
        expected = labels
    assert torch.equal(kwargs['labels'], expected)
    assert set(losses) == {key}
    torch.testing.assert_close(
        losses[key],
        DKDLoss(beta=2.0, warmup_epochs=0)(student_logits, teacher_logits,
                                           expected))
    assert student_logits.shape == (len(expected), 10)


@pytest.mark.parametrize('unix', [False, True], ids=['kd', 'unix'])
def test_embedding_and_stage_losses_get_their_outputs(unix):
    torch.manual_seed(0)
    model = staged_distiller(
        unix,
        dict(
            loss_pkt=dict(type='PKTLoss', loss_weight=30000.),
            loss_rkd=dict(type='RKDLoss'),
            loss_nst=dict(type='NSTLoss', loss_weight=50.))).train()
    seen = {}
    for name, loss in model.feature_losses.items():
        loss.register_forward_hook(
            lambda module, args, out, name=name: seen.update({name: args}))

    losses = model(**batch(model), mode='loss')
    sum(losses.values()).backward()

    kept = 12 if unix else 16
    assert set(losses) == {'loss_pkt', 'loss_rkd', 'loss_nst'}
    for name in ('loss_pkt', 'loss_rkd'):
        student, teacher = seen[name]
        assert student.shape == teacher.shape == (kept, 64)
    student, teacher = seen['loss_nst']
    assert [s.shape[1:] for s in student] == [(16, 32, 32), (32, 16, 16),
                                              (64, 8, 8)]
    assert [s.shape[0] for s in student + teacher] == [kept] * 6
    assert all(p.grad is None for p in model.teacher.parameters())


def test_an_embedding_loss_on_a_logits_only_classifier_is_refused():
    with pytest.raises(
            ValueError,
            match=r'model\.feature_losses\.loss_pkt \(PKTLoss\) compares '
            r'embedding, but model\.student is a TimmClassifier'):
        staged_distiller(
            True,
            dict(loss_pkt=dict(type='PKTLoss')),
            student=dict(
                type='TimmClassifier',
                model_name='test_resnet',
                num_classes=10,
                pretrained=False))


@pytest.mark.parametrize('loss_cfg, stages', [
    (dict(type='PKTLoss'), False),
    (dict(type='RKDLoss'), False),
    (dict(type='NSTLoss'), True),
    (dict(type='SPLoss'), True),
])
def test_relational_losses_keep_float32_under_autocast(loss_cfg, stages):
    """In bfloat16 the similarities of nearly parallel post-ReLU features round
    away (PKT's loss becomes exactly 0); the losses compute in float32 whatever
    the autocast."""
    loss = MODELS.build(loss_cfg)
    generator = torch.Generator().manual_seed(0)
    shape = (48, 16, 4, 4) if stages else (48, 256)
    # A shared positive component makes every pair nearly parallel.
    student, teacher = ((1 +
                         0.05 * torch.rand(shape, generator=generator)).relu()
                        for _ in range(2))
    if stages:
        student, teacher = (student, ), (teacher, )
    expected = loss(student, teacher)

    with torch.autocast('cpu', dtype=torch.bfloat16):
        low = loss(student, teacher)

    assert expected > 0
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, expected)


def test_dkd_warns_once_when_the_run_is_shorter_than_its_warm_up(
        message_hub, monkeypatch):
    warnings = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'warning', warnings.append)
    message_hub.update_info('loop_stage', 'train')
    message_hub.update_info('epoch', 0)
    message_hub.update_info('max_epochs', 1)  # as an IterBasedTrainLoop
    loss = DKDLoss(warmup_epochs=20)

    assert loss.warmup_factor() == loss.warmup_factor() == 1 / 20

    assert warnings == [
        'DKDLoss: warmup_epochs=20 is longer than the run (1 epoch(s); an '
        'IterBasedTrainLoop counts one), so the loss never reaches its full '
        'weight; set warmup_epochs=0 (or fewer epochs) in its config'
    ]
    message_hub.update_info('max_epochs', 240)
    assert DKDLoss(warmup_epochs=20).warmup_factor() == 1 / 20
    assert len(warnings) == 1
