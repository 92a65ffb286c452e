"""ClassificationDistiller: who sees how many samples, and a frozen teacher."""
import copy

import numpy as np
import pytest
import torch
from mmengine.runner import load_checkpoint
from mmpretrain.structures import DataSample

from mmunix.engine import UnreadableCheckpointError
from mmunix.registry import MODELS
from mmunix.utils import register_all_modules

register_all_modules()


def classifier(arch='resnet8', dropout=False):
    head = dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss'))
    if dropout:
        # A head with dropout shows whether the teacher ever leaves eval mode.
        head = dict(
            type='VisionTransformerClsHead',
            num_classes=10,
            in_channels=64,
            hidden_dim=16,
            loss=dict(type='CrossEntropyLoss'))
    return dict(
        type='ImageClassifier',
        backbone=dict(type='CIFARResNet', arch=arch),
        neck=dict(type='GlobalAveragePooling'),
        head=head)


def distiller(unix=True, teacher_ckpt=None, **kwargs):
    preprocessor = dict(num_classes=10, mean=[0.] * 3, std=[1.] * 3)
    if unix:
        preprocessor.update(
            type='UNIXDataPreprocessor', num_selected=0.75, num_clean=0.5)
    cfg = dict(
        type='ClassificationDistiller',
        student=classifier('resnet8'),
        teacher=classifier('resnet14'),
        teacher_ckpt=teacher_ckpt,
        data_preprocessor=preprocessor)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def batch(model, num=16):
    data = dict(
        inputs=torch.rand(num, 3, 32, 32),
        data_samples=[DataSample().set_gt_label(i % 10) for i in range(num)])
    return model.data_preprocessor(data, training=True)


def count_forwards(module):
    seen = []
    module.register_forward_hook(
        lambda mod, args, out: seen.append(args[0].size(0)))
    return seen


@pytest.mark.parametrize('unix, teacher_sees, student_sees', [
    (True, [12], [16, 12]),
    (False, [16], [16]),
])
def test_teacher_sees_k_under_unix_and_n_under_kd(unix, teacher_sees,
                                                  student_sees):
    model = distiller(unix=unix).train()
    teacher_calls = count_forwards(model.teacher.backbone)
    student_calls = count_forwards(model.student.backbone)
    losses = model(**batch(model), mode='loss')
    assert teacher_calls == teacher_sees
    assert student_calls == student_sees
    assert set(losses) == {'loss_kd'}
    scoring = 16 if unix else 0
    assert model.sample_counts == dict(
        batch=16,
        student_scoring=scoring,
        teacher=teacher_sees[0],
        student_train=teacher_sees[0])


def test_no_gradient_reaches_the_frozen_eval_mode_teacher():
    model = distiller(
        teacher=classifier('resnet14', dropout=True),
        ce_loss=dict(type='CrossEntropyLoss', use_soft=True, loss_weight=1.))
    model.train()
    assert not any(m.training for m in model.teacher.modules())
    assert all(m.training for m in model.student.modules())
    before = copy.deepcopy(model.teacher.state_dict())

    losses = model(**batch(model), mode='loss')
    sum(losses.values()).backward()

    assert all(p.grad is None and not p.requires_grad
               for p in model.teacher.parameters())
    assert any(p.grad is not None for p in model.student.parameters())
    # BatchNorm statistics of the teacher never move.
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, before[key]), key
    # Dropout off: the teacher is deterministic inside training.
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(
        model.teacher(x, mode='tensor'), model.teacher(x, mode='tensor'))


def test_mixed_ce_is_soft_target_ce_on_the_kept_samples():
    model = distiller(
        kd_loss=None,
        ce_loss=dict(type='CrossEntropyLoss', use_soft=True, loss_weight=1.))
    data = batch(model)
    torch.manual_seed(3)
    np.random.seed(3)
    losses = model(**data, mode='loss')

    torch.manual_seed(3)
    np.random.seed(3)
    labels = torch.cat([s.gt_label for s in data['data_samples']])
    with torch.no_grad():
        logits = model.student(data['inputs'], mode='tensor')
    mixed = model.data_preprocessor.mix_and_select(data['inputs'], labels,
                                                   logits)
    student = model.student(mixed.inputs, mode='tensor')
    log_p = student.log_softmax(1)
    rows = torch.arange(len(mixed.mask))
    expected = ((1 - mixed.mask) * -log_p[rows, mixed.labels_a] +
                mixed.mask * -log_p[rows, mixed.labels_b]).mean()
    torch.testing.assert_close(losses['loss_ce'], expected)


def test_zero_weight_losses_are_skipped_and_features_flow(tmp_path):
    model = distiller(
        student=dict(
            classifier('resnet8'),
            backbone=dict(
                type='CIFARResNet', arch='resnet8', out_indices=(1, 2, 3))),
        teacher=dict(
            classifier('resnet14'),
            backbone=dict(
                type='CIFARResNet', arch='resnet14', out_indices=(1, 2, 3))),
        feature_losses=dict(
            loss_at=dict(type='ATLoss', loss_weight=1000.),
            loss_sp=dict(type='SPLoss', loss_weight=0.)))
    losses = model.train()(**batch(model), mode='loss')
    assert set(losses) == {'loss_kd', 'loss_at'}


def test_feature_loss_names_must_start_with_loss():
    with pytest.raises(
            ValueError,
            match=r'model\.feature_losses\.at: names '
            r"must start with 'loss_'"):
        distiller(feature_losses=dict(at=dict(type='ATLoss')))


def test_teacher_and_student_train_on_the_same_mixed_samples():
    model = distiller().train()
    teacher_inputs, student_inputs = [], []
    model.teacher.backbone.register_forward_hook(
        lambda mod, args, out: teacher_inputs.append(args[0]))
    model.student.backbone.register_forward_hook(
        lambda mod, args, out: student_inputs.append(args[0]))
    data = batch(model)
    model(**data, mode='loss')
    scoring, training = student_inputs
    assert torch.equal(scoring, data['inputs'])  # step 1 sees the clean N
    assert training.shape == (12, 3, 32, 32)
    assert torch.equal(teacher_inputs[0], training)


def test_the_scoring_forward_runs_in_train_mode():
    # Step 1 is a training forward without a graph: BatchNorm uses batch
    # statistics and updates its running ones.
    model = distiller().train()
    bn = model.student.backbone.bn1
    before = bn.num_batches_tracked.item()
    logits = model.score_forward(batch(model)['inputs'])
    assert bn.num_batches_tracked.item() == before + 1
    assert not logits.requires_grad


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(kd_loss=dict(type='KDLoss', temp=4)), TypeError,
     r"model\.kd_loss: .*unexpected keyword argument 'temp'"),
    (dict(kd_loss=dict(type='KDLoss', temperature=float('inf'))), ValueError,
     r'model\.kd_loss: .*temperature=inf must be positive and finite'),
    (dict(kd_loss=dict(type='KDLos')), KeyError,
     r"model\.kd_loss\.type='KDLos'"),
    (dict(feature_losses=[dict(type='ATLoss')]), TypeError,
     r'model\.feature_losses must be a dict of name -> loss config'),
    (dict(teacher_ckpt=123), TypeError,
     r'model\.teacher_ckpt=123 must be a path or URL string, or None'),
])
def test_bad_distiller_arguments_name_the_key(kwargs, error, message):
    with pytest.raises(error, match=message):
        distiller(**kwargs)


def test_hard_label_ce_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r'model\.ce_loss.*use_soft=True'):
        distiller(ce_loss=dict(type='CrossEntropyLoss', loss_weight=1.))


def teacher_ckpt_error(path) -> str:
    """The message of the error that ``path`` as teacher_ckpt raises."""
    with pytest.raises(RuntimeError) as err:
        distiller(teacher_ckpt=str(path))
    return str(err.value)


def mismatch_of(path) -> str:
    """How the message of a teacher_ckpt that does not fit begins."""
    return (f"model.teacher_ckpt='{path}' does not match model.teacher "
            '(CIFARResNet backbone): ')


def test_teacher_checkpoint_loads_strictly(tmp_path):
    teacher = MODELS.build(classifier('resnet14'))
    good = tmp_path / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, good)
    model = distiller(teacher_ckpt=str(good))
    for key, value in teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[key], value)
    # Runner.init_weights must not re-initialise the loaded teacher.
    model.init_weights()
    for key, value in teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[key], value)

    wrong = tmp_path / 'wrong.pth'
    torch.save(
        {'state_dict': MODELS.build(classifier('resnet8')).state_dict()},
        wrong)
    # One line that sums the keys up, not PyTorch's list of every key.
    assert teacher_ckpt_error(wrong) == mismatch_of(wrong) + (
        'it holds 56 tensors under backbone.*, head.*, the model 92 under '
        'backbone.*, head.*; 30 missing from it (e.g. '
        'backbone.layer1.1.conv1.weight, backbone.layer1.1.bn1.weight, '
        'backbone.layer1.1.bn1.bias); point model.teacher_ckpt at the '
        'checkpoint of a teacher of this architecture and number of classes '
        '(a community checkpoint: convert it with '
        'tools/model_converters/community_to_mmunix.py)')

    with pytest.raises(
            FileNotFoundError,
            match=r"model\.teacher_ckpt='.*nope\.pth' does not "
            'exist'):
        distiller(teacher_ckpt=str(tmp_path / 'nope.pth'))

    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(wrong.read_bytes()[:1000])
    with pytest.raises(
            UnreadableCheckpointError,
            match=r"model\.teacher_ckpt='.*truncated\.pth': .* is "
            'not a readable torch checkpoint'):
        distiller(teacher_ckpt=str(truncated))


def test_a_distillation_checkpoint_as_teacher_ckpt_is_named_as_such(tmp_path):
    run = distiller()
    path = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': run.state_dict()}, path)
    assert teacher_ckpt_error(path) == mismatch_of(path) + (
        'it is the checkpoint of a distillation run (56 tensors under '
        'student.*, 92 under teacher.*), not of a teacher; point '
        "model.teacher_ckpt at the teacher's own checkpoint, or "
        'extract the teacher.* tensors, which fit model.teacher, into a '
        "checkpoint of their own without the 'teacher.' prefix (docs/faq.md "
        'shows how)')

    # What the message suggests works.
    teacher = {
        key[len('teacher.'):]: value
        for key, value in run.state_dict().items()
        if key.startswith('teacher.')
    }
    torch.save({'state_dict': teacher}, tmp_path / 'teacher.pth')
    model = distiller(teacher_ckpt=str(tmp_path / 'teacher.pth'))
    for key, value in teacher.items():
        assert torch.equal(model.teacher.state_dict()[key], value)


def test_a_distillation_checkpoint_of_another_teacher_says_both(tmp_path):
    # The distiller of a run is what a wrong teacher_ckpt often is; its
    # teacher may still be of another architecture (here resnet20).
    path = tmp_path / 'epoch_1.pth'
    torch.save(
        {'state_dict': distiller(teacher=classifier('resnet20')).state_dict()},
        path)
    message = teacher_ckpt_error(path)
    assert message.startswith(
        mismatch_of(path) +
        ('it is the checkpoint of a distillation run '
         '(56 tensors under student.*, 128 under teacher.*), not of a '
         'teacher, and its teacher.* tensors do not fit model.teacher '
         'either: it holds 128 tensors under backbone.*, head.*, the model 92 '
         'under backbone.*, head.*; 36 not in the model (e.g. '))
    assert message.endswith(
        '; point model.teacher_ckpt at the checkpoint of a teacher of this '
        'architecture and number of classes')
    assert '\n' not in message and len(message) < 1000


@pytest.mark.parametrize('content, holds', [([1, 2], 'list'),
                                            ({
                                                'state_dict': torch.zeros(2)
                                            }, 'Tensor')])
def test_a_teacher_ckpt_without_a_state_dict_says_what_it_holds(
        tmp_path, content, holds):
    path = tmp_path / 'odd.pth'
    torch.save(content, path)
    assert teacher_ckpt_error(path) == mismatch_of(path) + (
        f'it holds a {holds}, not a state dict; pass a checkpoint saved by '
        'an mmunix or mmpretrain run of the teacher')


def test_a_teacher_ckpt_with_nan_weights_is_refused(tmp_path):
    teacher = MODELS.build(classifier('resnet14'))
    state = teacher.state_dict()
    state['head.fc.bias'][3] = float('inf')
    path = tmp_path / 'diverged.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(ValueError) as err:
        distiller(teacher_ckpt=str(path))
    assert str(err.value) == (
        f"model.teacher_ckpt='{path}' holds NaN or Inf in 1 tensor(s) (e.g. "
        'head.fc.bias): it was saved by a teacher run that diverged; use an '
        'earlier checkpoint of that run')


def test_predict_and_tensor_use_the_student():
    model = distiller().eval()
    data = model.data_preprocessor(
        dict(
            inputs=torch.rand(2, 3, 32, 32),
            data_samples=[DataSample().set_gt_label(1) for _ in range(2)]))
    predictions = model(**data, mode='predict')
    expected = model.student(data['inputs'], mode='tensor')
    torch.testing.assert_close(model(data['inputs'], mode='tensor'), expected)
    torch.testing.assert_close(
        torch.stack([p.pred_score for p in predictions]), expected.softmax(1))


@pytest.mark.slow
def test_student_export_loads_into_plain_mmpretrain(tmp_path):
    import subprocess
    import sys

    from conftest import REPO_ROOT
    from mmpretrain.models import ImageClassifier

    model = distiller()
    ckpt = tmp_path / 'distill.pth'
    torch.save(
        {
            'meta': {
                'dataset_meta': {
                    'classes': list('abcdefghij')
                }
            },
            'state_dict': model.state_dict()
        }, ckpt)
    out = tmp_path / 'student.pth'
    subprocess.run([
        sys.executable, 'tools/model_converters/extract_student.py',
        str(ckpt),
        str(out)
    ],
                   cwd=REPO_ROOT,
                   check=True,
                   capture_output=True)

    exported = torch.load(out, weights_only=True)
    assert not any(
        k.startswith(('teacher', 'student', 'kd_loss'))
        for k in exported['state_dict'])
    cfg = classifier('resnet8')
    cfg.pop('type')
    plain = ImageClassifier(
        **dict(cfg, backbone=MODELS.build(cfg['backbone']))).eval()
    load_checkpoint(plain, str(out), strict=True)
    x = torch.rand(3, 3, 32, 32)
    model.eval()
    assert torch.equal(
        plain(x, mode='tensor'), model.student(x, mode='tensor'))


@pytest.mark.slow
def test_student_export_of_a_non_distiller_checkpoint_writes_nothing(tmp_path):
    import subprocess
    import sys

    from conftest import REPO_ROOT

    ckpt = tmp_path / 'teacher.pth'
    torch.save({'state_dict': MODELS.build(classifier()).state_dict()}, ckpt)
    out = tmp_path / 'student.pth'
    result = subprocess.run([
        sys.executable, 'tools/model_converters/extract_student.py',
        str(ckpt),
        str(out)
    ],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert (f'extract_student: error: {ckpt}: no "student." keys: this is '
            'not a checkpoint of ClassificationDistiller') in result.stderr
    assert f'Nothing was written to {out}.' in result.stderr
    assert not out.exists()


def test_compute_budget_is_resolved_from_fvcore_at_the_first_batch():
    from mmunix.utils.compute_cost import ComputeCost
    model = distiller(
        data_preprocessor=dict(
            type='UNIXDataPreprocessor',
            compute_budget=0.95,
            num_clean=0.25,
            num_classes=10,
            mean=[0.] * 3,
            std=[1.] * 3))
    model.train()(**batch(model, num=16), mode='loss')
    f_t, f_s = model.flops_per_sample((3, 32, 32))
    # resnet14 and resnet8 with 10-class heads, from fvcore, one sample each.
    assert (f_t, f_s) == (26948224, 12677760)
    fraction = model.data_preprocessor.num_selected
    assert ComputeCost(f_t, f_s).unix_ratio(fraction) == pytest.approx(0.95)
    assert model.sample_counts['teacher'] == round(fraction * 16)


class _ConnectorLoss(torch.nn.Module):
    """Compares the student's last stage, mapped by a 1x1 conv, with the
    teacher's."""
    distill_input = 'stages'

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight
        # Nested as FitNets nests its connectors: the list is never called.
        self.connectors = torch.nn.ModuleList([
            torch.nn.Sequential(
                torch.nn.Conv2d(64, 64, 1, bias=False),
                torch.nn.BatchNorm2d(64))
        ])

    def forward(self, student, teacher):
        return (self.connectors[0](student[-1]) - teacher[-1]).pow(2).mean()


def test_connector_flops_count_once_per_sample_and_change_nothing():
    MODELS.register_module('_ConnectorLoss', module=_ConnectorLoss, force=True)
    model = distiller(
        feature_losses=dict(loss_hint=dict(type='_ConnectorLoss')))
    model.train()
    # A submodule frozen in eval mode stays so.
    model.student.backbone.bn1.eval()
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()

    f_c = model.connector_flops_per_sample((3, 32, 32))

    # resnet8's last stage is 64x8x8: a 64->64 1x1 conv costs 64*64 flops
    # per position; fvcore counts an affine BatchNorm as 2 per element.
    assert f_c == 64 * 64 * 8 * 8 + 2 * 64 * 8 * 8
    assert model.training and model.feature_losses.training
    assert model.student.backbone.training
    assert not model.student.backbone.bn1.training
    assert torch.equal(torch.get_rng_state(), rng)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    cost = model.compute_cost((3, 32, 32), backward_factor=2.0)
    assert (cost.teacher_flops, cost.student_flops,
            cost.connector_flops) == (26948224, 12677760, f_c)
    assert cost.backward_factor == 2.0
    # Losses without parameters cost nothing beyond the student.
    assert distiller().connector_flops_per_sample((3, 32, 32)) == 0


def test_unix_keys_without_a_type_do_not_fall_back_to_kd_silently():
    with pytest.raises(
            ValueError,
            match=r'model\.data_preprocessor sets '
            r'num_clean but no type.*data_preprocessor\.num_clean'):
        distiller(unix=False, data_preprocessor=dict(num_clean=40))


@pytest.mark.slow
def test_exported_student_runs_in_mmpretrain_apis_without_mmunix(tmp_path):
    """mmpretrain's inferencer loads the export in a process that never imports
    mmunix itself; the config's ``mmunix.`` backbone scope does."""
    import json
    import subprocess
    import sys

    from conftest import REPO_ROOT

    model = distiller().eval()
    ckpt, out = tmp_path / 'distill.pth', tmp_path / 'student.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    subprocess.run([
        sys.executable, 'tools/model_converters/extract_student.py',
        str(ckpt),
        str(out)
    ],
                   cwd=REPO_ROOT,
                   check=True,
                   capture_output=True)

    image = np.random.default_rng(0).integers(
        0, 256, (32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / 'image.npy', image)
    script = (
        'import json, sys, numpy as np\n'
        'from mmpretrain.apis import ImageClassificationInferencer\n'
        'inferencer = ImageClassificationInferencer(\n'
        '    model="configs/demo/student_resnet8_digits.py",\n'
        f'    pretrained="{out}")\n'
        f'result = inferencer(np.load("{tmp_path / "image.npy"}"))[0]\n'
        # A file, not stdout: the inferencer draws a progress bar there.
        f'open("{tmp_path / "scores.json"}", "w").write(\n'
        '    json.dumps(result["pred_scores"].tolist()))\n')
    subprocess.run([sys.executable, '-c', script],
                   cwd=REPO_ROOT,
                   capture_output=True,
                   text=True,
                   check=True)
    scores = torch.tensor(json.loads((tmp_path / 'scores.json').read_text()))

    # The demo config normalises with mean 77.8 and std 82.5.
    x = (torch.from_numpy(image).permute(2, 0, 1).float()[None] - 77.8) / 82.5
    with torch.no_grad():
        expected = model.student(x, mode='tensor').softmax(1)[0]
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)


def test_a_kd_loss_with_parameters_and_weight_zero_is_refused():
    MODELS.register_module('_ConnectorLoss', module=_ConnectorLoss, force=True)
    with pytest.raises(
            ValueError,
            match=r"^model\.kd_loss \(_ConnectorLoss\) has trainable "
            r'parameters but loss_weight=0, so they would never get a '
            r'gradient .*put it in model\.feature_losses, where a loss of '
            r'weight 0 is not built$'):
        distiller(kd_loss=dict(type='_ConnectorLoss', loss_weight=0.0))
    # In feature_losses it is simply left out.
    model = distiller(
        feature_losses=dict(
            loss_hint=dict(type='_ConnectorLoss', loss_weight=0.0)))
    assert len(model.feature_losses) == 0


class _IndexLoss(torch.nn.Module):
    """Records the sample indices it is given; the loss is the logits' mean."""
    distill_input = 'logits'
    uses_sample_indices = True

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight
        self.seen = []

    def forward(self, student, teacher, sample_indices):
        self.seen.append(sample_indices.tolist())
        return student.mean()


def test_sample_indices_are_those_of_the_base_images_and_must_be_packed():
    MODELS.register_module('_IndexLoss', module=_IndexLoss, force=True)
    model = distiller(
        unix=True,
        feature_losses=dict(loss_index=dict(type='_IndexLoss'))).train()
    data = batch(model)
    for position, sample in enumerate(data['data_samples']):
        sample.set_metainfo(dict(sample_idx=100 + position))
    mixed = []
    mix_and_select = model.data_preprocessor.mix_and_select
    model.data_preprocessor.mix_and_select = \
        lambda *args: mixed.append(mix_and_select(*args)) or mixed[-1]

    model(**data, mode='loss')

    (seen, ) = model.feature_losses.loss_index.seen
    (selected, ) = mixed
    # k = 12 of 16, each given the dataset index of its base image x[r_j].
    assert selected.base_positions.tolist() == selected.ranks[:12].tolist()
    assert seen == [100 + p for p in selected.ranks[:12].tolist()]


def test_a_loss_needing_sample_indices_without_them_names_the_fix():
    MODELS.register_module('_IndexLoss', module=_IndexLoss, force=True)
    model = distiller(
        unix=False,
        feature_losses=dict(loss_index=dict(type='_IndexLoss'))).train()
    data = batch(model)
    with pytest.raises(
            ValueError,
            match=r"^model\.feature_losses\.loss_index needs each sample's "
            r"dataset index, but the data samples carry no 'sample_idx': "
            r"keep 'sample_idx' in the meta_keys of PackInputs"):
        model(**data, mode='loss')


def test_an_unknown_distill_input_is_refused_with_the_key():

    class _Odd(_IndexLoss):
        distill_input = 'features'

    MODELS.register_module('_OddInputLoss', module=_Odd, force=True)
    with pytest.raises(
            ValueError,
            match=r"^model\.feature_losses\.loss_odd: _Odd\.distill_input="
            r"'features' must be one of 'logits', 'embedding', 'stages'$"):
        distiller(feature_losses=dict(loss_odd=dict(type='_OddInputLoss')))
