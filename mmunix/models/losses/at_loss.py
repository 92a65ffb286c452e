"""Attention transfer between matching stages of two backbones."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS
from .utils import Outputs, pair_outputs, pool_to_common_size


@MODELS.register_module()
class ATLoss(nn.Module):
    r"""Match the spatial attention maps of student and teacher stages.

    Proposed in `Paying More Attention to Attention: Improving the
    Performance of Convolutional Neural Networks via Attention Transfer
    <https://arxiv.org/abs/1612.03928>`_, in the form of the CRD/RepDistiller
    benchmark code. One of UNIX's optional feature losses (step 7 of the
    training step in docs/algorithm.md). The reference recipe uses
    ``loss_weight=1000``.

    Args:
        p (float): Exponent of the activations in the attention map. A
            non-integer ``p`` needs non-negative (post-ReLU) features.
            Defaults to 2.
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    Note:
        The attention map of a feature map :math:`f` of shape
        ``(N, C, H, W)`` is :math:`a(f) = g / \|g\|_2` with
        :math:`g = \mathrm{mean}_c\, f_c^{\,p}` flattened to ``(N, H*W)``.
        The loss sums :math:`\mathrm{mean}\,(a(f_s) - a(f_t))^2` over the
        stage pairs. Channel counts may differ between the two; a larger
        spatial size is average-pooled to the smaller one first.
    """

    distill_input = 'stages'

    def __init__(self, p: float = 2, loss_weight: float = 1.0):
        super().__init__()
        if not 0 < p < math.inf:
            raise ValueError(f'ATLoss: p={p!r} must be positive and finite')
        self.p = p
        self.loss_weight = loss_weight

    def attention(self, feat: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` features -> ``(N, H*W)`` unit-norm attention."""
        return F.normalize(feat.pow(self.p).mean(dim=1).flatten(1), dim=1)

    def pair_loss(self, student_feat: torch.Tensor,
                  teacher_feat: torch.Tensor) -> torch.Tensor:
        """Unweighted loss of one ``(N, C_s, H, W)``, ``(N, C_t, H', W')``
        stage pair."""
        # Pool the features, not the attention maps, as the reference code
        # does, so that each side's map is computed at the common size.
        student_feat, teacher_feat = pool_to_common_size(
            student_feat, teacher_feat)
        return (self.attention(student_feat) -
                self.attention(teacher_feat)).pow(2).mean()

    def forward(self, student_feats: Outputs,
                teacher_feats: Outputs) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_feats (Tensor | Sequence[Tensor]): Stage outputs of the
                student backbone, each ``(N, C_i, H_i, W_i)``.
            teacher_feats (Tensor | Sequence[Tensor]): The teacher's, as
                many, in the same order. No gradient flows into them.

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        loss = sum(
            self.pair_loss(student_feat, teacher_feat)
            for student_feat, teacher_feat in pair_outputs(
                'ATLoss', student_feats, teacher_feats))
        return self.loss_weight * loss
