"""Any mmpretrain classifier distils on its logits; feature losses need a
backbone."""
import pytest
import torch
from conftest import train_in_process
from mmpretrain.structures import DataSample

from mmunix.models.losses import KDLoss
from mmunix.models.utils.classifier_outputs import classify
from mmunix.registry import MODELS
from mmunix.utils import register_all_modules

register_all_modules()

NUM_CLASSES = 10


def timm_classifier(name='test_resnet', num_classes=NUM_CLASSES):
    return dict(
        type='TimmClassifier',
        model_name=name,
        num_classes=num_classes,
        pretrained=False)


def image_classifier():
    return dict(
        type='ImageClassifier',
        backbone=dict(type='CIFARResNet', arch='resnet8', out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=64))


def distiller(teacher, student, unix, **kwargs):
    preprocessor = dict(num_classes=NUM_CLASSES, mean=[0.] * 3, std=[1.] * 3)
    if unix:
        preprocessor.update(
            type='UNIXDataPreprocessor', num_selected=6, num_clean=3)
    return MODELS.build(
        dict(
            type='ClassificationDistiller',
            teacher=teacher,
            student=student,
            data_preprocessor=preprocessor,
            **kwargs))


@pytest.mark.parametrize('unix', [False, True], ids=['kd', 'unix'])
@pytest.mark.parametrize(
    'teacher, student', [
        (timm_classifier('test_resnet'), image_classifier()),
        (image_classifier(), timm_classifier('test_efficientnet')),
        (timm_classifier('test_resnet'), timm_classifier('test_efficientnet')),
    ],
    ids=['timm-teacher', 'timm-student', 'timm-pair'])
def test_a_timm_classifier_distils_as_teacher_and_as_student(
        teacher, student, unix):
    torch.manual_seed(0)
    model = distiller(teacher, student, unix).train()
    teacher_inputs = []
    model.teacher.register_forward_pre_hook(
        lambda module, args: teacher_inputs.append(args[0]))
    data = model.data_preprocessor(
        dict(
            inputs=torch.rand(8, 3, 32, 32),
            data_samples=[
                DataSample().set_gt_label(i % NUM_CLASSES) for i in range(8)
            ]),
        training=True)

    losses = model(**data, mode='loss')
    losses['loss_kd'].backward()

    kept = 6 if unix else 8
    assert model.sample_counts == dict(
        batch=8,
        student_scoring=8 if unix else 0,
        teacher=kept,
        student_train=kept)
    # The logits are those of each classifier's own forward.
    (inputs, ) = teacher_inputs
    assert inputs.shape == (kept, 3, 32, 32)
    with torch.no_grad():
        expected = KDLoss(temperature=4.0)(model.student(
            inputs, mode='tensor'), model.teacher(inputs, mode='tensor'))
    torch.testing.assert_close(losses['loss_kd'].detach(), expected)
    assert all(param.grad is None for param in model.teacher.parameters())
    assert any(param.grad is not None and param.grad.abs().sum() > 0
               for param in model.student.parameters())


@pytest.mark.parametrize('role', ['teacher', 'student'])
def test_a_feature_loss_on_a_classifier_without_stages_is_refused(role):
    pair = dict(teacher=image_classifier(), student=image_classifier())
    pair[role] = timm_classifier()
    with pytest.raises(
            ValueError,
            match=(r'^model\.feature_losses\.loss_at \(ATLoss\) compares '
                   rf'stages, but model\.{role} is a TimmClassifier, which '
                   r'exposes only its logits; use a loss on logits \(e\.g\. '
                   r'KDLoss or DKDLoss\) for it, or a classifier built as '
                   r'backbone, neck and head \(ImageClassifier\)$')):
        distiller(
            **pair,
            unix=True,
            feature_losses=dict(loss_at=dict(type='ATLoss')))


def test_features_are_read_once_and_only_when_asked_for():
    model = MODELS.build(image_classifier()).eval()
    calls = []
    model.backbone.register_forward_hook(
        lambda *args: calls.append('backbone'))
    pre_logits = model.head.pre_logits
    model.head.pre_logits = lambda feats: calls.append('pre_logits') or \
        pre_logits(feats)
    inputs = torch.rand(2, 3, 32, 32)

    logits_only = classify(model, inputs)
    everything = classify(model, inputs, {'embedding', 'stages'})

    # LinearClsHead scores the embedding it gave: pre_logits runs once.
    assert calls == ['backbone', 'pre_logits', 'backbone', 'pre_logits']
    assert logits_only.embedding is None and logits_only.stages is None
    torch.testing.assert_close(everything.logits, logits_only.logits)
    (stage, ) = everything.stages
    assert stage.shape == (2, 64, 8, 8)
    # The embedding is the pooled last stage that the linear head scores.
    torch.testing.assert_close(everything.embedding, stage.mean((2, 3)))
    torch.testing.assert_close(
        model.head.fc(everything.embedding), everything.logits)


@pytest.mark.slow
def test_train_py_runner_distils_a_timm_pair_with_unix(tmp_path, cifar_root):
    """The Runner of tools/train.py trains a TimmClassifier student from a
    TimmClassifier teacher checkpoint under UNIX."""
    teacher_cfg = timm_classifier('test_resnet', num_classes=100)
    ckpt = str(tmp_path / 'timm_teacher.pth')
    torch.save({'state_dict': MODELS.build(teacher_cfg).state_dict()}, ckpt)
    student_cfg = timm_classifier('test_efficientnet', num_classes=100)

    runner = train_in_process(
        'configs/unix_r56_r20_cifar100.py', tmp_path / 'work', cifar_root, **{
            'model.teacher': dict(_delete_=True, **teacher_cfg),
            'model.student': dict(_delete_=True, **student_cfg),
            'model.teacher_ckpt': ckpt,
            'train_dataloader.batch_size': 4,
        })

    model = runner.model
    assert type(model.student).__name__ == 'TimmClassifier'
    assert runner.iter == 4
    # k=0.75 of each batch of 4 reached the teacher.
    assert model.sample_counts == dict(
        batch=4, student_scoring=4, teacher=3, student_train=3)
    loaded = torch.load(ckpt, weights_only=True)['state_dict']
    for key, value in model.teacher.state_dict().items():
        torch.testing.assert_close(value, loaded[key])
