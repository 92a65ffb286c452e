"""Relational knowledge distillation: distances and angles in a batch."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS
from .utils import in_float32, pair_embeddings

#: Floor of the squared distances before the square root, as in the
#: reference code, so that its gradient stays finite.
MIN_SQUARED_DISTANCE = 1e-12


@MODELS.register_module()
class RKDLoss(nn.Module):
    r"""Match the pairwise distances and triplet angles of the student's
    embeddings to the teacher's.

    Proposed in `Relational Knowledge Distillation
    <https://arxiv.org/abs/1904.05068>`_ (Park et al., CVPR 2019), in the form
    of the CRD/RepDistiller benchmark code (``distiller_zoo/RKD.py``). It
    distils the ``(N, D)`` embeddings the heads classify
    (``distill_input='embedding'``); the two networks' ``D`` may differ.

    Args:
        distance_weight (float): Weight of the distance term. Defaults to
            25.0.
        angle_weight (float): Weight of the angle term. Defaults to 50.0.
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    The defaults are the paper's and the CRD benchmark's (``w_d=25``,
    ``w_a=50`` in ``RKDLoss``, beside cross-entropy of weight 1 and no KD:
    ``scripts/run_cifar_distill.sh``, ``-a 0 -b 1``). A term of weight 0 is
    not computed.

    Note:
        Distance term: the ``(N, N)`` Euclidean distances, each divided by
        the mean of the off-diagonal ones, compared with the smooth L1
        (Huber, threshold 1) loss, averaged over the :math:`N^2` entries.

        Angle term: for every anchor :math:`j` and pair :math:`(i, l)`, the
        cosine of the angle between :math:`e_i - e_j` and :math:`e_l - e_j`
        (a zero difference gives cosine 0), compared with the smooth L1 loss
        averaged over the :math:`N^3` triplets.

        **Mixed samples (UNIX).** The relations are among the ``k`` mixed
        samples that both networks see; no label is used. Both terms are
        means of scale-free quantities, so their size hardly depends on
        whether ``k`` or ``N`` samples take part.

        **Cost.** The distance term is :math:`O(N^2 D)`; the angle term
        builds an ``(N, N, D)`` tensor of differences and an ``(N, N, N)``
        tensor of cosines, :math:`O(N^3 D)` time (at ``N = 64``, ``D = 256``
        about 67 M multiply-adds per network). No parameters.
    """

    distill_input = 'embedding'

    def __init__(self,
                 distance_weight: float = 25.0,
                 angle_weight: float = 50.0,
                 loss_weight: float = 1.0):
        super().__init__()
        for name, value in (('distance_weight', distance_weight),
                            ('angle_weight', angle_weight)):
            if not 0 <= value < math.inf:
                raise ValueError(f'RKDLoss: {name}={value!r} must be '
                                 'non-negative and finite')
        self.distance_weight = float(distance_weight)
        self.angle_weight = float(angle_weight)
        self.loss_weight = loss_weight

    @staticmethod
    def distances(embedding: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` -> ``(N, N)`` distances over their positive mean."""
        squared_norms = embedding.pow(2).sum(dim=1)
        squared = (
            squared_norms.unsqueeze(0) + squared_norms.unsqueeze(1) -
            2 * embedding @ embedding.t())
        dist = squared.clamp(min=MIN_SQUARED_DISTANCE).sqrt()
        eye = torch.eye(
            embedding.size(0), dtype=torch.bool, device=embedding.device)
        dist = dist.masked_fill(eye, 0)
        # The mean of the positive entries, without boolean indexing (which
        # would make the host wait for the device); a batch of one sample
        # has none, and its distance stays 0.
        mean = dist.sum() / (dist > 0).sum().clamp(min=1)
        return dist / mean.clamp(min=MIN_SQUARED_DISTANCE)

    @staticmethod
    def angles(embedding: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` -> ``(N, N, N)`` cosines, ``[j, i, l]`` at anchor
        ``j``."""
        directions = F.normalize(
            embedding.unsqueeze(0) - embedding.unsqueeze(1), dim=2)
        return directions @ directions.transpose(1, 2)

    @in_float32
    def forward(self, student_embedding: torch.Tensor,
                teacher_embedding: torch.Tensor) -> torch.Tensor:
        """Weighted smooth L1 distances between the two batches' relations.

        Args:
            student_embedding (Tensor): ``(N, D_s)``, the student's; a shape
                ``(N, ...)`` is flattened first.
            teacher_embedding (Tensor): ``(N, D_t)``, the teacher's, for the
                same ``N`` samples; used as a constant target.

        Returns:
            Tensor: ``loss_weight * (distance_weight * L_d + angle_weight *
            L_a)``, a scalar.
        """
        student, teacher = pair_embeddings('RKDLoss', student_embedding,
                                           teacher_embedding)
        loss = student.new_zeros(())
        if self.distance_weight:
            with torch.no_grad():
                target = self.distances(teacher)
            loss = loss + self.distance_weight * F.smooth_l1_loss(
                self.distances(student), target)
        if self.angle_weight:
            with torch.no_grad():
                target = self.angles(teacher)
            loss = loss + self.angle_weight * F.smooth_l1_loss(
                self.angles(student), target)
        return self.loss_weight * loss
