"""One table at the end of a run: what the student reached, what the teacher
scored, what the run saw and what it cost."""
import json
import os.path as osp
import time
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmunix.registry import HOOKS
from mmunix.utils.atomic_save import write_atomically
from .teacher_eval_hook import INFO_KEY as TEACHER_METRICS
from .teacher_query_hook import TeacherQueryHook

#: The message hub's runtime info with the best validation top-1 so far and
#: its epoch, and the last one (saved with the hub, so --resume continues
#: them).
BEST_KEY = 'run_summary/best_top1'
LAST_KEY = 'run_summary/last_top1'


@HOOKS.register_module()
class RunSummaryHook(Hook):
    """Write ``summary.json`` and ``summary.md`` to the work dir at the end of
    training, and log the table.

    The summary holds, where the run has them:

    - ``student_best_top1`` and its epoch, over the validations of the run,
      and ``student_last_top1``;
    - ``teacher_metrics``: the teacher's validation metrics measured by
      :class:`TeacherEvalHook` before training;
    - ``teacher_samples``, ``student_train_samples``, ``total_flops`` and
      ``compute_ratio_vs_kd`` from ``compute_report.json``
      (:class:`TeacherQueryHook`);
    - ``wall_time_s``: seconds from the start to the end of training, added
      up over the sessions of a resumed run.

    ``default_hooks.run_summary`` in the default runtime. It runs after
    ``TeacherQueryHook`` has written its report.
    """
    priority = 'LOWEST'
    SUMMARY_FILE = 'summary.json'
    TABLE_FILE = 'summary.md'
    CHECKPOINT_KEY = 'run_summary'

    def __init__(self):
        self._started: Optional[float] = None
        self._earlier_sessions = 0.0

    def before_train(self, runner) -> None:
        self._started = time.perf_counter()

    def wall_time(self) -> float:
        """Seconds of training so far, over every session of the run."""
        return self._earlier_sessions + (time.perf_counter() - self._started)

    def after_val_epoch(self, runner, metrics=None) -> None:
        top1 = (metrics or {}).get('accuracy/top1')
        if top1 is None:
            return
        runner.message_hub.update_info(LAST_KEY, float(top1))
        best = runner.message_hub.get_info(BEST_KEY)
        if best is None or top1 > best['top1']:
            runner.message_hub.update_info(
                BEST_KEY, dict(top1=float(top1), epoch=runner.epoch))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._started is not None:
            checkpoint.setdefault(
                'meta',
                {})[self.CHECKPOINT_KEY] = dict(wall_time_s=self.wall_time())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('meta', {}).get(self.CHECKPOINT_KEY)
        if saved is not None and runner._resume:
            self._earlier_sessions = float(saved['wall_time_s'])

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        summary = self.summary(runner)
        table = summary_table(summary)
        write_atomically(
            osp.join(runner.work_dir, self.SUMMARY_FILE),
            json.dumps(summary, indent=2))
        write_atomically(
            osp.join(runner.work_dir, self.TABLE_FILE), table + '\n')
        runner.logger.info(f'Run summary ({self.SUMMARY_FILE} and '
                           f'{self.TABLE_FILE} in the work dir):\n{table}')

    def summary(self, runner) -> dict:
        """What :meth:`after_train` writes, as a dict."""
        best = runner.message_hub.get_info(BEST_KEY) or {}
        summary = dict(
            student_best_top1=best.get('top1'),
            student_best_epoch=best.get('epoch'),
            student_last_top1=runner.message_hub.get_info(LAST_KEY),
            teacher_metrics=runner.message_hub.get_info(TEACHER_METRICS),
            wall_time_s=round(self.wall_time(), 1),
        )
        report_file = osp.join(runner.work_dir, TeacherQueryHook.REPORT_FILE)
        if osp.isfile(report_file):
            with open(report_file) as f:
                report = json.load(f)
            summary.update({
                key: report[key]
                for key in ('teacher_samples', 'student_train_samples',
                            'total_flops', 'compute_ratio_vs_kd')
            })
        return summary


def summary_table(summary: dict) -> str:
    """A two-column Markdown table of ``summary``; absent values as '-'."""
    teacher = summary.get('teacher_metrics') or {}

    def percent(value):
        return '-' if value is None else f'{value:.2f} %'

    def count(key):
        value = summary.get(key)
        return '-' if value is None else f'{value:,}'

    flops = summary.get('total_flops')
    ratio = summary.get('compute_ratio_vs_kd')
    best_epoch = summary.get('student_best_epoch')
    rows = [
        ('Student best top-1', percent(summary.get('student_best_top1')) +
         ('' if best_epoch is None else f' (epoch {best_epoch})')),
        ('Teacher top-1', percent(teacher.get('accuracy/top1'))),
        ('Teacher samples', count('teacher_samples')),
        ('Student training samples', count('student_train_samples')),
        ('Total compute',
         '-' if flops is None else f'{flops / 1e9:,.1f} GFLOPs'),
        ('Compute vs KD', '-' if ratio is None else f'{ratio:.4f}'),
        ('Wall time', f'{summary["wall_time_s"]:,.1f} s'),
    ]
    lines = ['| Quantity | Value |', '| --- | ---: |']
    lines += [f'| {name} | {value} |' for name, value in rows]
    return '\n'.join(lines)
