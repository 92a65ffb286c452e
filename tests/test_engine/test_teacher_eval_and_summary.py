"""TeacherEvalHook scores the teacher once before distilling; RunSummaryHook
writes what the run reached and cost."""
import json

import pytest
import torch
from conftest import tiny_config, tiny_validation_settings, train_in_process

from mmunix.utils.runner_args import build_runner

KD = 'configs/kd_r56_r20_cifar100.py'
TEACHER = 'configs/teachers/resnet56_cifar100.py'


def with_validation(cifar_root) -> dict:
    """One epoch with validation at its end and an epoch checkpoint."""
    return {
        **tiny_validation_settings(cifar_root, topk=(1, 5)),
        'default_hooks.checkpoint':
        dict(type='CheckpointHook', interval=1, save_best=None),
    }


def distil(work_dir, cifar_root, teacher_ckpt, **settings):
    settings = {**with_validation(cifar_root), **settings}
    return train_in_process(KD, work_dir, cifar_root, **{
        'model.teacher_ckpt': teacher_ckpt,
        **settings
    })


def log_text(work_dir) -> str:
    return ''.join(path.read_text() for path in work_dir.glob('*/*.log'))


@pytest.mark.slow
def test_the_teacher_is_scored_as_tools_test_scores_it(tmp_path, cifar_root,
                                                       teacher_ckpt):
    distil(tmp_path / 'kd', cifar_root, teacher_ckpt)
    summary = json.loads((tmp_path / 'kd' / 'summary.json').read_text())

    # The same checkpoint scored on its own, through the teacher's config.
    cfg = tiny_config(TEACHER, tmp_path / 'test', cifar_root)
    cfg.load_from = teacher_ckpt
    cfg.experiment_name = 'teacher_eval_reference'
    runner = build_runner(cfg)
    runner.load_checkpoint(teacher_ckpt)
    expected = runner.test()

    assert summary['teacher_metrics'] == {
        key: pytest.approx(value, abs=1e-6)
        for key, value in expected.items()
    }
    assert 'TeacherEvalHook: the teacher scores accuracy/top1' in log_text(
        tmp_path / 'kd')
    # 16 images, one epoch of KD: the teacher and the student see each once.
    assert summary['teacher_samples'] == 16
    assert summary['student_train_samples'] == 16
    assert summary['compute_ratio_vs_kd'] == 1.0
    assert summary['student_best_epoch'] == 1
    assert summary['student_best_top1'] == summary['student_last_top1']
    assert summary['wall_time_s'] > 0
    table = (tmp_path / 'kd' / 'summary.md').read_text()
    assert '| Teacher samples | 16 |' in table
    assert '| Compute vs KD | 1.0000 |' in table


@pytest.mark.slow
def test_a_resumed_run_does_not_score_the_teacher_again(
        tmp_path, cifar_root, teacher_ckpt):
    distil(tmp_path, cifar_root, teacher_ckpt)
    first = json.loads((tmp_path / 'summary.json').read_text())

    distil(
        tmp_path,
        cifar_root,
        teacher_ckpt,
        resume=True,
        **{'train_cfg.max_epochs': 2})
    resumed = json.loads((tmp_path / 'summary.json').read_text())

    assert resumed['teacher_metrics'] == first['teacher_metrics']
    assert log_text(tmp_path).count(
        'TeacherEvalHook: the teacher scores accuracy/top1') == 1
    assert 'teacher metrics from the checkpoint, not evaluated again' in \
        log_text(tmp_path)
    assert resumed['teacher_samples'] == 32
    assert resumed['wall_time_s'] > first['wall_time_s']


def test_a_teacher_below_the_student_baseline_is_warned_about(
        tmp_path, cifar_root, teacher_ckpt):
    distil(tmp_path, cifar_root, teacher_ckpt,
           **{'default_hooks.teacher_eval.student_baseline_top1': 100.0})
    assert ('BELOW the student trained alone (100.00 %, '
            'default_hooks.teacher_eval.student_baseline_top1)'
            ) in log_text(tmp_path)


def test_one_key_switches_the_teacher_evaluation_off(tmp_path, cifar_root,
                                                     teacher_ckpt):
    distil(tmp_path, cifar_root, teacher_ckpt,
           **{'default_hooks.teacher_eval': None})
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['teacher_metrics'] is None
    assert 'TeacherEvalHook' not in log_text(tmp_path)
    assert '| Teacher top-1 | - |' in (tmp_path / 'summary.md').read_text()


@pytest.mark.slow
def test_scoring_the_teacher_leaves_the_training_unchanged(
        tmp_path, cifar_root, teacher_ckpt):
    # UNIX draws its permutations from torch's generator, which the
    # evaluation's dataloader would advance.
    weights = []
    for name, hook in (('on', {}), ('off', {
            'default_hooks.teacher_eval': None
    })):
        runner = train_in_process('configs/unix_r56_r20_cifar100.py',
                                  tmp_path / name, cifar_root,
                                  **with_validation(cifar_root), **hook,
                                  **{'model.teacher_ckpt': teacher_ckpt})
        weights.append(runner.model.student.state_dict())
    assert all(
        torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_a_run_without_a_teacher_gets_a_summary_too(tmp_path, cifar_root):
    train_in_process(TEACHER, tmp_path, cifar_root,
                     **with_validation(cifar_root))
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['teacher_metrics'] is None
    assert 'teacher_samples' not in summary
    assert summary['student_best_epoch'] == 1


def test_a_baseline_outside_0_to_100_names_the_key():
    from mmunix.engine.hooks import TeacherEvalHook
    with pytest.raises(
            ValueError,
            match=r'default_hooks.teacher_eval.student_baseline_top1=170 '
            'must be a top-1 accuracy in %'):
        TeacherEvalHook(student_baseline_top1=170)
