"""Evaluate the teacher once before distillation, so its quality is on
record."""
import contextlib
import random
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from mmunix.registry import HOOKS
from .utils import get_distiller

#: The message hub's runtime info that holds the teacher's metrics: read by
#: RunSummaryHook, and saved in checkpoints with the hub, so that --resume
#: restores it (load_from, a new run, does not).
INFO_KEY = 'teacher_metrics'


@HOOKS.register_module()
class TeacherEvalHook(Hook):
    """Score the teacher on the validation set before the first iteration.

    A distilled student is only as good as its teacher, and a teacher that
    is weaker than the student trained alone makes distillation hurt. This
    hook runs the teacher once over the run's validation dataloader with
    the run's validation evaluator, logs the metrics (e.g. top-1 and top-5)
    and keeps them for :class:`RunSummaryHook` and in every checkpoint, so a
    resumed run reports them without evaluating again. Models without a
    teacher and runs without validation are left alone.

    ``default_hooks.teacher_eval`` in the default runtime; set it to None to
    switch the evaluation off.

    Args:
        student_baseline_top1 (float, optional): Top-1 (%) of the student
            trained alone, e.g. from ``configs/vanilla/`` or
            docs/model_zoo.md. A teacher below it is warned about before
            training. Defaults to None (no comparison).
    """
    priority = 'LOW'

    def __init__(self, student_baseline_top1: Optional[float] = None):
        if student_baseline_top1 is not None and not (
                0 <= student_baseline_top1 <= 100):
            raise ValueError(
                'default_hooks.teacher_eval.student_baseline_top1='
                f'{student_baseline_top1!r} must be a top-1 accuracy in %, '
                'within 0..100')
        self.student_baseline_top1 = student_baseline_top1

    def before_train(self, runner) -> None:
        distiller = get_distiller(runner, 'TeacherEvalHook')
        if getattr(distiller, 'teacher', None) is None:
            return
        saved = runner.message_hub.get_info(INFO_KEY)
        if saved is not None:
            runner.logger.info(
                'TeacherEvalHook: teacher metrics from the checkpoint, not '
                f'evaluated again: {_format(saved)}')
            return
        if runner.val_loop is None:
            runner.logger.info('TeacherEvalHook: the run has no validation '
                               'set; the teacher is not evaluated')
            return
        metrics = self.evaluate(runner, distiller)
        runner.message_hub.update_info(INFO_KEY, metrics)
        runner.logger.info('TeacherEvalHook: the teacher scores '
                           f'{_format(metrics)} on the validation set')
        self._compare_with_baseline(runner, metrics)

    @staticmethod
    @torch.no_grad()
    def evaluate(runner, distiller) -> Dict[str, float]:
        """The teacher's metrics over the validation dataloader (a collective
        under DDP: every process calls it)."""
        loop = runner.val_loop
        teacher = distiller.teacher
        was_training = teacher.training
        teacher.eval()
        device = next(teacher.parameters()).device
        # The dataloader draws its base seed from torch's generator: without
        # this, switching the evaluation off would change the training run.
        with _random_state_kept(device):
            metrics = _predict_and_evaluate(loop, distiller, teacher)
        teacher.train(was_training)
        return {key: float(value) for key, value in metrics.items()}

    def _compare_with_baseline(self, runner, metrics: dict) -> None:
        top1 = metrics.get('accuracy/top1')
        if self.student_baseline_top1 is None or top1 is None:
            return
        if top1 < self.student_baseline_top1:
            runner.logger.warning(
                f'TeacherEvalHook: the teacher scores {top1:.2f} % top-1, '
                'BELOW the student trained alone '
                f'({self.student_baseline_top1:.2f} %, '
                'default_hooks.teacher_eval.student_baseline_top1): '
                'distilling from it will likely make the student worse. '
                'Check model.teacher_ckpt, or train the teacher longer.')


def _predict_and_evaluate(loop, distiller, teacher) -> dict:
    for data_batch in loop.dataloader:
        data = distiller.data_preprocessor(data_batch, False)
        outputs = teacher(**data, mode='predict')
        loop.evaluator.process(data_samples=outputs, data_batch=data_batch)
    return loop.evaluator.evaluate(len(loop.dataloader.dataset))


@contextlib.contextmanager
def _random_state_kept(device: torch.device):
    """Restore Python's, NumPy's and torch's random generators (on the CPU and
    on ``device``) to their state before the block."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = [device] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)


def _format(metrics: dict) -> str:
    return ', '.join(f'{key} {value:.2f}' for key, value in metrics.items())
