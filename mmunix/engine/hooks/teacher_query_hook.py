"""Count teacher queries and report the compute saved against KD."""
import json
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_rank, is_main_process
from mmengine.hooks import Hook

from mmunix.registry import HOOKS
from mmunix.utils.atomic_save import write_atomically
from mmunix.utils.compute_cost import ComputeCost
from .utils import get_distiller, saves_after_train_iter

COUNT_KEYS = ('batch', 'student_scoring', 'teacher', 'student_train')


@HOOKS.register_module()
class TeacherQueryHook(Hook):
    """Log how many samples each forward saw and what that cost.

    The cost is the compute accounting of docs/algorithm.md.

    Before training it measures ``F_t`` and ``F_s`` with fvcore: one sample's
    forward flops in eval mode, at the input size of the training pipeline.
    After every iteration it adds up the distiller's ``sample_counts``;
    every ``interval`` iterations it logs, summed over all processes:

    - ``teacher_samples``, ``student_scoring_samples``,
      ``student_train_samples``;
    - ``gflops``: cumulative compute of the run;
    - ``compute_ratio_vs_kd``: that compute over conventional KD's on the
      same batches (exactly 1.0 for KD).

    At the end of training the main process writes ``compute_report.json``
    to the work dir. The counts travel in checkpoints, so a resumed run
    continues them.

    Args:
        interval (int): Log every this many iterations. Defaults to 50.
        backward_factor (float): A student backward in forwards: 1.0 (the
            paper's convention) or 2.0. Defaults to 1.0.
    """
    priority = 'NORMAL'  # before LoggerHook, so both lines share an iteration
    CHECKPOINT_KEY = 'teacher_query_counts'
    REPORT_FILE = 'compute_report.json'

    def __init__(self, interval: int = 50, backward_factor: float = 1.0):
        if not (isinstance(interval, int) and interval > 0):
            raise ValueError(f'TeacherQueryHook interval={interval!r} must be '
                             'a positive int')
        # Validates backward_factor early, before any training.
        ComputeCost(1., 1., backward_factor)
        self.interval = interval
        self.backward_factor = backward_factor
        self.cost: Optional[ComputeCost] = None
        self.input_shape = None
        self._local = dict.fromkeys(COUNT_KEYS, 0)
        # Totals of the run before a resume; rank 0 carries them.
        self._resumed = dict.fromkeys(COUNT_KEYS, 0)
        # The totals over all processes at the last synchronisation. Only the
        # main process saves checkpoints, so before_save_checkpoint cannot
        # run a collective; the totals are synchronised beforehand wherever
        # a checkpoint may follow, and only there (no per-iteration sync).
        self._synced = dict.fromkeys(COUNT_KEYS, 0)

    @staticmethod
    def _distiller(runner):
        return get_distiller(runner, 'TeacherQueryHook', 'sample_counts',
                             'compute_cost')

    def before_train(self, runner) -> None:
        distiller = self._distiller(runner)
        sample = runner.train_dataloader.dataset[0]['inputs']
        self.input_shape = tuple(sample.shape)
        self.cost = distiller.compute_cost(self.input_shape,
                                           self.backward_factor)
        connectors = ''
        if self.cost.connector_flops:
            connectors = (f', F_c={self.cost.connector_flops / 1e6:.2f}M in '
                          "the losses' trainable parts")
        runner.logger.info(
            f'TeacherQueryHook: F_t={self.cost.teacher_flops / 1e6:.2f}M, '
            f'F_s={self.cost.student_flops / 1e6:.2f}M{connectors} flops per '
            f'sample at input {self.input_shape} (fvcore, eval mode), '
            f'backward = {self.backward_factor}x forward')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        counts = self._distiller(runner).sample_counts
        for key in COUNT_KEYS:
            self._local[key] += counts[key]
        if self.syncs_after_train_iter(runner, batch_idx):
            self.sync()
        if self._logs_now(runner):
            self._log(runner)

    def _logs_now(self, runner) -> bool:
        return self.every_n_train_iters(runner, self.interval) or \
            self.is_last_train_iter(runner)

    def syncs_after_train_iter(self, runner, batch_idx: int) -> bool:
        """Whether the counts are summed over processes after the current
        iteration: where they are logged and where a checkpoint follows."""
        return self._logs_now(runner) or saves_after_train_iter(runner)

    def after_train_epoch(self, runner) -> None:
        # Runs before CheckpointHook's after_train_epoch, which may save.
        self.sync()

    def sync(self) -> Dict[str, int]:
        """Sum the run's counts over processes (a collective: every process
        calls it at the same point) and return them."""
        local = torch.tensor(
            [self._local[k] + self._resumed[k] for k in COUNT_KEYS],
            dtype=torch.float64)
        all_reduce(local, op='sum')
        self._synced = {k: int(v) for k, v in zip(COUNT_KEYS, local.tolist())}
        return dict(self._synced)

    def report(self, totals: Dict[str, int]) -> dict:
        """The compute report for ``totals``: the fields of
        ``compute_report.json`` that docs/config_reference.md lists."""
        cost = self.cost
        total = cost.total(totals['student_scoring'], totals['teacher'],
                           totals['student_train'])
        kd = cost.kd(totals['batch'])
        return dict(
            batch_samples=totals['batch'],
            teacher_samples=totals['teacher'],
            student_scoring_samples=totals['student_scoring'],
            student_train_samples=totals['student_train'],
            teacher_flops_per_sample=cost.teacher_flops,
            student_flops_per_sample=cost.student_flops,
            connector_flops_per_sample=cost.connector_flops,
            input_shape=list(self.input_shape),
            backward_factor=cost.backward_factor,
            total_flops=total,
            kd_equivalent_flops=kd,
            compute_ratio_vs_kd=total / kd if kd else None)

    def _log(self, runner) -> None:
        report = self.report(self._synced)
        scalars = dict(
            teacher_samples=report['teacher_samples'],
            student_scoring_samples=report['student_scoring_samples'],
            student_train_samples=report['student_train_samples'],
            gflops=report['total_flops'] / 1e9,
            compute_ratio_vs_kd=report['compute_ratio_vs_kd'])
        runner.visualizer.add_scalars(
            {
                f'compute/{k}': v
                for k, v in scalars.items()
            },
            step=runner.iter + 1)
        runner.logger.info(
            'Compute(train) [{}]  '.format(runner.iter + 1) +
            '  '.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}'
                      for k, v in scalars.items()))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta',
                              {})[self.CHECKPOINT_KEY] = dict(self._synced)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('meta', {}).get(self.CHECKPOINT_KEY)
        # `load_from` without --resume starts a new run: its compute starts
        # at zero, whatever the checkpoint's run had spent.
        if saved is None or not runner._resume:
            return
        self._local = dict.fromkeys(COUNT_KEYS, 0)
        self._synced = {k: saved.get(k, 0) for k in COUNT_KEYS}
        self._resumed = {
            k: self._synced[k] if get_rank() == 0 else 0
            for k in COUNT_KEYS
        }

    def after_train(self, runner) -> None:
        report = self.report(self.sync())
        if is_main_process():
            path = osp.join(runner.work_dir, self.REPORT_FILE)
            write_atomically(path, json.dumps(report, indent=2))
            runner.logger.info(
                f'TeacherQueryHook: wrote {path} (compute ratio vs KD '
                f'{report["compute_ratio_vs_kd"]:.4f})')
