"""Hinton's knowledge-distillation loss on temperature-softened logits."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS


@MODELS.register_module()
class KDLoss(nn.Module):
    r"""KL divergence from the teacher's to the student's softened softmax.

    Proposed in `Distilling the Knowledge in a Neural Network
    <https://arxiv.org/abs/1503.02531>`_. This is the KD loss of UNIX (step
    7 of the training step in docs/algorithm.md).

    Args:
        temperature (float): Softmax temperature :math:`T`, positive.
            Defaults to 4.0, the value of the reference recipe.
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    Note:
        With :math:`q^t = \mathrm{softmax}(z_t / T)` and
        :math:`q^s = \mathrm{softmax}(z_s / T)`, the loss is

        .. math::
            T^2 \cdot \frac{1}{N} \sum_{i=1}^{N}
            \mathrm{KL}(q^t_i \,\|\, q^s_i).

        The :math:`T^2` keeps the gradient's scale independent of
        :math:`T`, since softening divides the gradient by :math:`T^2`.
    """

    distill_input = 'logits'

    def __init__(self, temperature: float = 4.0, loss_weight: float = 1.0):
        super().__init__()
        if not 0 < temperature < math.inf:
            raise ValueError(f'KDLoss: temperature={temperature!r} must be '
                             'positive and finite')
        self.temperature = float(temperature)
        self.loss_weight = loss_weight

    def forward(self, student_logits: torch.Tensor,
                teacher_logits: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_logits (Tensor): Shape ``(N, C)``.
            teacher_logits (Tensor): Shape ``(N, C)``. It is a target, so no
                gradient flows into it.

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                'KDLoss: student and teacher logits must have the same '
                f'shape (N, C), got {tuple(student_logits.shape)} and '
                f'{tuple(teacher_logits.shape)}')
        temperature = self.temperature
        # Comparing log-probabilities (log_target=True) stays finite where a
        # teacher probability underflows to 0.
        kl = F.kl_div(
            F.log_softmax(student_logits / temperature, dim=1),
            F.log_softmax(teacher_logits.detach() / temperature, dim=1),
            reduction='batchmean',
            log_target=True)
        return self.loss_weight * temperature**2 * kl
