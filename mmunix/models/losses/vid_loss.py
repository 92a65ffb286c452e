"""Variational information distillation between matching stages."""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS
from .channel_checks import (Channels, channel_pairs, channel_tuple,
                             check_channels)
from .utils import Outputs, pair_outputs, pool_to_common_size


class VIDRegressor(nn.Module):
    """The variational distribution of one teacher stage given the student's.

    A Gaussian with a mean regressed from the student's features by three
    1x1 convolutions (ReLU between them, no biases) and a learned variance
    per teacher channel, ``softplus(log_scale) + eps``, as in the authors'
    code.

    Args:
        in_channels (int): Channels of the student stage.
        mid_channels (int): Of the two hidden convolutions.
        out_channels (int): Channels of the teacher stage.
        init_pred_var (float): The variance at initialisation.
        eps (float): Floor of the variance.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int,
                 init_pred_var: float, eps: float):
        super().__init__()
        self.mean = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid_channels, mid_channels, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid_channels, out_channels, 1, bias=False))
        # softplus(log_scale) + eps == init_pred_var at the start.
        self.log_scale = nn.Parameter(
            torch.full((out_channels, ),
                       math.log(math.expm1(init_pred_var - eps))))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The distribution for ``(N, C_s, H, W)`` student features.

        Returns:
            tuple[Tensor, Tensor]: The ``(N, C_t, H, W)`` mean and the
            ``(1, C_t, 1, 1)`` variance.
        """
        variance = F.softplus(self.log_scale) + self.eps
        return self.mean(x), variance.view(1, -1, 1, 1)


@MODELS.register_module()
class VIDLoss(nn.Module):
    r"""Maximise a variational lower bound of the mutual information between
    teacher and student stage features.

    Proposed in `Variational Information Distillation for Knowledge
    Transfer <https://arxiv.org/abs/1904.05835>`_ (Ahn et al., CVPR 2019),
    in the form of the authors' code that the CRD/RepDistiller benchmark
    uses (``distiller_zoo/VID.py``). It distils the backbones' stage
    features (``distill_input='stages'``): set the same number of
    ``out_indices`` on both backbones. Each stage pair has its own
    :class:`VIDRegressor`.

    Reference hyper-parameters (RepDistiller ``train_student.py`` and
    ``scripts/run_cifar_distill.sh``; mdistiller's ``CFG.VID`` agrees): the
    outputs of all three residual stages (``feat[1:-1]``,
    ``out_indices=(1, 2, 3)`` of :class:`~mmunix.models.CIFARResNet`), the
    teacher's channel count as hidden width, ``init_pred_var=5``,
    ``eps=1e-5``, weight 1 (``-b 1``), beside cross-entropy of weight 1 and
    no KD loss (``-a 0``).

    Args:
        student_channels (int | Sequence[int]): Channels of each student
            stage that ``out_indices`` selects, in order.
        teacher_channels (int | Sequence[int]): The teacher's, as many.
        mid_channels (int | Sequence[int], optional): Hidden width of each
            regressor. Defaults to the teacher stage's channels, as the
            reference.
        init_pred_var (float): Initial variance of every teacher channel.
            Defaults to 5.0.
        eps (float): Floor of the variance. Defaults to 1e-5.
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    Note:
        For stage pair :math:`i` with regressed mean :math:`\mu_i(f^s_i)`
        and per-channel variance :math:`\sigma^2_{i,c}`, the loss is the
        Gaussian negative log-likelihood without its constant,

        .. math::
            \sum_i \mathrm{mean}_{n,c,h,w}\; \frac{1}{2} \Big(
            \frac{(\mu_{i}(f^s_i) - f^t_i)^2_{nchw}}{\sigma^2_{i,c}}
            + \log \sigma^2_{i,c} \Big),

        which may be negative. Where the two stages differ in resolution,
        the larger is average-pooled to the smaller first.

        - Extra parameters: per stage ``C_s·M + M² + M·C_t`` convolution
          weights and ``C_t`` log-scales, with ``M`` the hidden width
          (16240 in all for resnet56 -> resnet20, 258496 for resnet32x4 ->
          resnet8x4).
        - Cost: the regressors' forward per sample, ``(C_s·M + M² +
          M·C_t)·H·W`` multiply-adds per stage (2.4 M for resnet56 ->
          resnet20, 37.7 M for resnet32x4 -> resnet8x4), and its backward.
        - Mixed samples (UNIX): teacher and student see the same mixed
          image, so the student's features of that image predict the
          teacher's; nothing about the loss changes.
    """
    distill_input = 'stages'

    def __init__(self,
                 student_channels: Channels,
                 teacher_channels: Channels,
                 mid_channels: Optional[Channels] = None,
                 init_pred_var: float = 5.0,
                 eps: float = 1e-5,
                 loss_weight: float = 1.0):
        super().__init__()
        self.channels = channel_pairs('VIDLoss', student_channels,
                                      teacher_channels)
        mids = tuple(teacher for _, teacher in self.channels)
        if mid_channels is not None:
            mids = channel_tuple('VIDLoss', 'mid_channels', mid_channels)
            if len(mids) != len(self.channels):
                raise ValueError(
                    f'VIDLoss: mid_channels={mid_channels!r} must name as '
                    f'many stages as student_channels={student_channels!r}')
        if not 0 < eps < init_pred_var < math.inf:
            raise ValueError(
                f'VIDLoss: eps={eps!r} and init_pred_var={init_pred_var!r} '
                'must satisfy 0 < eps < init_pred_var, finite')
        self.regressors = nn.ModuleList(
            VIDRegressor(student, mid, teacher, init_pred_var, eps)
            for (student, teacher), mid in zip(self.channels, mids))
        self.loss_weight = loss_weight

    def forward(self, student_feats: Outputs,
                teacher_feats: Outputs) -> torch.Tensor:
        """The negative log-likelihood of the teacher's stages under the
        Gaussians regressed from the student's.

        Args:
            student_feats (Tensor | Sequence[Tensor]): One ``(N, C_s, H, W)``
                student stage per regressor.
            teacher_feats (Tensor | Sequence[Tensor]): The matching teacher
                stages, ``(N, C_t, H', W')``, targets without gradient.

        Returns:
            Tensor: The likelihood terms summed over the stages, times
            ``loss_weight``.
        """
        pairs = pair_outputs('VIDLoss', student_feats, teacher_feats)
        check_channels('VIDLoss', self.channels, [s for s, _ in pairs],
                       [t for _, t in pairs], self.distill_input)
        loss = 0
        for (student, teacher), regressor in zip(pairs, self.regressors):
            student, teacher = pool_to_common_size(student, teacher)
            mean, variance = regressor(student)
            loss = loss + 0.5 * (
                (mean - teacher).pow(2) / variance + variance.log()).mean()
        return self.loss_weight * loss
