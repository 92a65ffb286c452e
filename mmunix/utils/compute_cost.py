"""The compute accounting of docs/algorithm.md.

Costs are in fvcore flops: one sample's forward through the teacher (``F_t``)
and the student (``F_s``), a student backward costing ``backward_factor``
forwards (1, the paper's convention, or 2). The trainable parts of the
distillation losses (connectors, regressors, embedding heads; ``F_c``) train
with the student and count as student training cost; the scoring forward of
UNIX does not run them.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class ComputeCost:
    """Cost of distillation iterations from per-sample forward flops.

    Args:
        teacher_flops (float): ``F_t``, one sample's teacher forward.
        student_flops (float): ``F_s``, one sample's student forward.
        backward_factor (float): Cost of a student backward in forwards.
            Defaults to 1.0, the paper's convention.
        connector_flops (float): ``F_c``, one sample's forward through the
            losses' trainable parts. Defaults to 0 (KD, AT, SP...).
    """
    teacher_flops: float
    student_flops: float
    backward_factor: float = 1.0
    connector_flops: float = 0.0

    def __post_init__(self):
        if not self.backward_factor > 0:
            raise ValueError(f'backward_factor={self.backward_factor} must be '
                             'positive')

    @property
    def per_train_sample(self) -> float:
        """``(1 + backward_factor)·(F_s + F_c)``: a student training forward
        and backward, with the losses' trainable parts."""
        return (1 + self.backward_factor) * (
            self.student_flops + self.connector_flops)

    @property
    def per_distilled_sample(self) -> float:
        """``F_t + (1 + backward_factor)·(F_s + F_c)``: a teacher query plus a
        student training forward and backward."""
        return self.teacher_flops + self.per_train_sample

    def total(self, scoring: float, teacher: float, train: float) -> float:
        """Flops of ``scoring`` student scoring forwards, ``teacher`` teacher
        forwards and ``train`` student training samples."""
        return (scoring * self.student_flops + teacher * self.teacher_flops +
                train * self.per_train_sample)

    def kd(self, num_samples: float) -> float:
        """Conventional KD on ``num_samples``: the 100 % reference."""
        return self.total(0, num_samples, num_samples)

    def unix_ratio(self, selected_fraction: float) -> float:
        """UNIX over KD for ``k/N = selected_fraction``:
        ``(N·F_s + k·(F_t + (1+β)·(F_s+F_c))) / (N·(F_t + (1+β)·(F_s+F_c)))``.
        """
        return (self.student_flops +
                selected_fraction * self.per_distilled_sample) / \
            self.per_distilled_sample

    def selected_fraction(self,
                          budget: float,
                          key: str = 'compute_budget') -> float:
        """The ``k/N`` at which UNIX costs ``budget`` times KD.

        Args:
            budget (float): Target compute ratio against KD.
            key (str): Config key of ``budget``, for the error message.

        Raises:
            ValueError: ``budget`` is above 1 (more than KD) or not above
                the cost of the scoring forward alone.
        """
        scoring_share = self.student_flops / self.per_distilled_sample
        if not scoring_share < budget <= 1:
            raise ValueError(
                f'{key}={budget} is infeasible: it must be above '
                f'{scoring_share:.4f}, the cost of the scoring forward alone '
                '(k=0) against KD for this teacher and student, and at most 1,'
                ' the cost of KD')
        return budget - scoring_share
