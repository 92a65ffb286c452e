"""Cosine distance between student and teacher outputs."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.models.losses.utils import Outputs, pair_outputs
from mmunix.registry import MODELS


@MODELS.register_module()
class CosineKDLoss(nn.Module):
    r"""Align the direction of the student's outputs with the teacher's.

    It fits either loss slot of ``ClassificationDistiller`` that compares the
    two networks: ``kd_loss`` (``(N, C)`` logits) or ``feature_losses``
    (the tuples of stage features the backbones return).

    Args:
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    Note:
        Each output pair is flattened to ``(N, D)`` per sample, and the loss
        is

        .. math::
            \sum_{\text{pairs}} \frac{1}{N} \sum_{i=1}^{N}
            \big(1 - \cos(s_i, t_i)\big),

        from 0 (same direction) to 2 per pair (opposite directions). It
        ignores the outputs' scale, so the student and the teacher need the
        same shape but not the same magnitude.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, student_outputs: Outputs,
                teacher_outputs: Outputs) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_outputs (Tensor | Sequence[Tensor]): ``(N, C)`` logits,
                or stage features each ``(N, C_i, H_i, W_i)``.
            teacher_outputs (Tensor | Sequence[Tensor]): The teacher's, with
                the same shapes. No gradient flows into them.

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        loss = 0.
        for student, teacher in pair_outputs('CosineKDLoss', student_outputs,
                                             teacher_outputs):
            if student.shape != teacher.shape:
                raise ValueError(
                    'CosineKDLoss needs student and teacher outputs of the '
                    f'same shape, got {tuple(student.shape)} and '
                    f'{tuple(teacher.shape)}; pick stages of equal width')
            cosine = F.cosine_similarity(
                student.flatten(1), teacher.flatten(1), dim=1)
            loss = loss + (1 - cosine).mean()
        return self.loss_weight * loss
