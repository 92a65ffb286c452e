"""Similarity-preserving distillation on the last stage's features."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS
from .utils import Outputs, in_float32


@MODELS.register_module()
class SPLoss(nn.Module):
    r"""Match the student's batch similarity matrix to the teacher's.

    Proposed in `Similarity-Preserving Knowledge Distillation
    <https://arxiv.org/abs/1907.09682>`_. One of UNIX's optional feature
    losses (step 7 of the training step in docs/algorithm.md). The reference
    recipe uses ``loss_weight=3000``.

    Args:
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    Note:
        For features :math:`f` of shape ``(N, ...)`` flattened to ``(N, D)``,
        :math:`G = f f^\top` is ``(N, N)`` and each row of it is L2
        normalised. The loss is :math:`\|G_t - G_s\|_F^2 / N^2`. Only sample
        similarities are compared, so the two networks' feature shapes may
        differ.
    """

    distill_input = 'stages'

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    @staticmethod
    def similarity(feat: torch.Tensor) -> torch.Tensor:
        """``(N, ...)`` features -> ``(N, N)`` row-normalised Gram matrix."""
        flat = feat.flatten(1)
        return F.normalize(flat @ flat.t(), dim=1)

    @in_float32
    def forward(self, student_feats: Outputs,
                teacher_feats: Outputs) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_feats (Tensor | Sequence[Tensor]): The student's features
                ``(N, C, H, W)``, or its stage outputs, of which only the
                last is used.
            teacher_feats (Tensor | Sequence[Tensor]): The same for the
                teacher. No gradient flows into them.

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        # The paper applies SP to the last stage; taking it from the stage
        # tuple lets SP share the backbones' out_indices with ATLoss.
        student = (
            student_feats
            if isinstance(student_feats, torch.Tensor) else student_feats[-1])
        teacher = (teacher_feats if isinstance(teacher_feats, torch.Tensor)
                   else teacher_feats[-1]).detach()
        batch_size = student.size(0)
        if teacher.size(0) != batch_size:
            raise ValueError(
                'SPLoss: student and teacher features must hold the same '
                f'samples, got batch sizes {batch_size} and '
                f'{teacher.size(0)}')
        diff = self.similarity(teacher) - self.similarity(student)
        return self.loss_weight * diff.pow(2).sum() / batch_size**2
