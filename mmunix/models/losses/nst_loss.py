"""Neuron selectivity transfer between matching stages of two backbones."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS
from .utils import Outputs, in_float32, pair_outputs, pool_to_common_size


@MODELS.register_module()
class NSTLoss(nn.Module):
    r"""Match the distributions of the channels' spatial activation patterns
    with the maximum mean discrepancy (MMD) of a polynomial kernel.

    Proposed in `Like What You Like: Knowledge Distill via Neuron Selectivity
    Transfer <https://arxiv.org/abs/1707.01219>`_ (Huang & Wang, 2017), in
    the form of the CRD/RepDistiller benchmark code (``distiller_zoo/NST.py``).
    It distils the backbones' stage features (``distill_input='stages'``):
    set the same number of ``out_indices`` on both backbones; the benchmark
    uses the outputs of the residual stages, without the stem.

    Args:
        loss_weight (float): Factor on the loss. Defaults to 1.0. The CRD
            benchmark uses 50 beside cross-entropy of weight 1 and no KD
            (``scripts/run_cifar_distill.sh``: ``-a 0 -b 50``).

    Note:
        A stage feature of shape ``(N, C, H, W)`` is read as ``C`` samples
        :math:`f_c \in \mathbb{R}^{HW}` per image, each L2 normalised. With
        the kernel :math:`k(a, b) = (a^\top b)^2` (polynomial, degree 2, no
        constant, as in the paper and the benchmark), the loss of one stage
        pair is the squared MMD, averaged over the batch:

        .. math::
            \mathrm{mean}_{c,c'} k(t_c, t_{c'}) +
            \mathrm{mean}_{c,c'} k(s_c, s_{c'}) -
            2\, \mathrm{mean}_{c,c'} k(s_c, t_{c'}),

        and the loss sums over the stage pairs. The channel counts may
        differ; a larger spatial size is average-pooled to the smaller one
        first (the benchmark pools to the teacher's or the student's square
        size, which is the same for square maps).

        **Mixed samples (UNIX).** Each image is compared with itself only:
        the channel statistics of the teacher on a mixed image are the
        target of the student on that image, and no label is used.

        **Cost.** Three ``(N, C, C)`` kernel matrices per stage pair,
        :math:`O(N C^2 H W)` (the teacher's without a graph). No extra
        forward and no parameters.
    """

    distill_input = 'stages'

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    @staticmethod
    def kernel_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Mean of :math:`(a_i^\\top b_j)^2` over the ``(N, C_a, C_b)`` channel
        pairs of ``(N, C_a, HW)`` and ``(N, C_b, HW)``."""
        return torch.bmm(a, b.transpose(1, 2)).pow(2).mean()

    def pair_loss(self, student_feat: torch.Tensor,
                  teacher_feat: torch.Tensor) -> torch.Tensor:
        """Unweighted loss of one ``(N, C_s, H, W)``, ``(N, C_t, H', W')``
        stage pair."""
        if student_feat.size(0) != teacher_feat.size(0):
            raise ValueError(
                'NSTLoss: student and teacher features must hold the same '
                f'samples, got batch sizes {student_feat.size(0)} and '
                f'{teacher_feat.size(0)}')
        student_feat, teacher_feat = pool_to_common_size(
            student_feat, teacher_feat)
        student = F.normalize(student_feat.flatten(2), dim=2)
        with torch.no_grad():
            teacher = F.normalize(teacher_feat.flatten(2), dim=2)
            teacher_term = self.kernel_mean(teacher, teacher)
        return (teacher_term + self.kernel_mean(student, student) -
                2 * self.kernel_mean(student, teacher))

    @in_float32
    def forward(self, student_feats: Outputs,
                teacher_feats: Outputs) -> torch.Tensor:
        """Sum the squared MMD over the stage pairs.

        Args:
            student_feats (Tensor | Sequence[Tensor]): The student
                backbone's stage features, each ``(N, C_i, H_i, W_i)``; a
                tensor is one stage.
            teacher_feats (Tensor | Sequence[Tensor]): The teacher's stage
                features, paired in order with the student's; channel counts
                may differ. They are targets: no gradient flows into them.

        Returns:
            Tensor: ``loss_weight`` times the sum, a scalar.
        """
        loss = sum(
            self.pair_loss(student_feat, teacher_feat)
            for student_feat, teacher_feat in pair_outputs(
                'NSTLoss', student_feats, teacher_feats))
        return self.loss_weight * loss
