"""FitNets: the student regresses the teacher's intermediate features."""
from numbers import Integral
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS
from .channel_checks import Channels, channel_pairs, check_channels
from .utils import Outputs, pair_outputs


@MODELS.register_module()
class FitNetsLoss(nn.Module):
    r"""Regress the teacher's stage features (the *hints*) from the
    student's through a trainable connector.

    Proposed in `FitNets: Hints for Thin Deep Nets
    <https://arxiv.org/abs/1412.6550>`_ (Romero et al., ICLR 2015), in the
    single-stage form of the CRD/RepDistiller benchmark, which trains the
    hint loss together with the rest of the student instead of in the
    paper's separate first stage. It distils the backbones' stage features
    (``distill_input='stages'``): set the same ``out_indices`` on both
    backbones, ending with the last stage, which the head classifies, and
    pick the hint stages among them with ``stages``. Each hint stage of the
    student goes through its own connector
    (:class:`~mmunix.models.connectors.ConvBNConnector` by default) to the
    teacher's channel count.

    Reference hyper-parameters (RepDistiller ``train_student.py`` and
    ``scripts/run_cifar_distill.sh``; mdistiller's ``CFG.FITNET`` agrees):
    the hint is the output of the second residual stage (``--hint_layer
    2``; with ``out_indices=(1, 2, 3)`` of
    :class:`~mmunix.models.CIFARResNet`, ``stages=(1, )``), the weight is
    100 (``-b 100``), beside cross-entropy of weight 1 and no KD loss (``-a
    0``).

    Args:
        student_channels (int | Sequence[int]): Channels of each student
            hint stage, in order.
        teacher_channels (int | Sequence[int]): The teacher's, as many.
        stages (Sequence[int], optional): The hint stages, as positions in
            the tuple of stage outputs that ``out_indices`` makes the
            backbones return (negative ones count from its end). Defaults to
            all of them.
        connector (dict): Config of the connector of each stage, without
            ``in_channels`` and ``out_channels``, which come from the two
            arguments above. Defaults to ``dict(type='ConvBNConnector')``: a
            1x1 convolution, BatchNorm and ReLU.
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    Note:
        With :math:`r_i` the connector of stage pair :math:`i`, the loss is
        :math:`\sum_i \mathrm{mean}\,(r_i(f^s_i) - f^t_i)^2`, the mean over
        all ``N·C·H·W`` elements of each pair (``nn.MSELoss``, as the
        reference). A connector's output must have the teacher stage's
        shape; for a student stage of twice the teacher's resolution give
        the connector ``stride=2`` (and ``kernel_size=3``, as the
        reference).

        - Extra parameters: the connectors; ``C_s·C_t + 2·C_t`` each with
          the default connector (1088 for resnet20's 32-channel stage, 16640
          for resnet8x4's 128-channel one).
        - Cost: one connector forward per sample, ``C_s·C_t·H·W``
          multiply-adds with a 1x1 convolution, and its BatchNorm (fvcore
          counts 0.28 M flops for resnet56 -> resnet20, 4.26 M for
          resnet32x4 -> resnet8x4 at stage 2), and its backward.
        - Mixed samples (UNIX): teacher and student see the same mixed
          image, so the student regresses the teacher's features of that
          image; nothing about the loss changes. The connectors'
          BatchNorm statistics are those of the ``k`` mixed samples.
    """
    distill_input = 'stages'

    def __init__(self,
                 student_channels: Channels,
                 teacher_channels: Channels,
                 stages: Optional[Sequence[int]] = None,
                 connector: Optional[dict] = None,
                 loss_weight: float = 1.0):
        super().__init__()
        self.channels = channel_pairs('FitNetsLoss', student_channels,
                                      teacher_channels)
        self.stages = None if stages is None else _positions(
            stages, len(self.channels))
        connector = dict(connector or dict(type='ConvBNConnector'))
        given = sorted({'in_channels', 'out_channels'} & set(connector))
        if given:
            raise ValueError(
                f'FitNetsLoss: connector sets {", ".join(given)}; give the '
                'channel counts as student_channels and teacher_channels '
                'of the loss instead')
        self.connectors = nn.ModuleList(
            MODELS.build(
                dict(
                    connector,
                    in_channels=in_channels,
                    out_channels=out_channels))
            for in_channels, out_channels in self.channels)
        self.loss_weight = loss_weight

    def forward(self, student_feats: Outputs,
                teacher_feats: Outputs) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_feats (Tensor | Sequence[Tensor]): Stage outputs of the
                student backbone, each ``(N, C_s, H, W)``.
            teacher_feats (Tensor | Sequence[Tensor]): The teacher's, as
                many, each ``(N, C_t, H', W')``. No gradient flows into
                them.

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        pairs = pair_outputs('FitNetsLoss', student_feats, teacher_feats)
        if self.stages is not None:
            if not all(-len(pairs) <= stage < len(pairs)
                       for stage in self.stages):
                raise ValueError(
                    f'FitNetsLoss: stages={self.stages} are positions in the '
                    f'{len(pairs)} stage outputs that out_indices selects on '
                    'the backbones; choose them below that')
            pairs = [pairs[stage] for stage in self.stages]
        check_channels('FitNetsLoss', self.channels, [s for s, _ in pairs],
                       [t for _, t in pairs], self.distill_input)
        loss = 0
        for index, ((student, teacher),
                    connector) in enumerate(zip(pairs, self.connectors)):
            hint = connector(student)
            if hint.shape != teacher.shape:
                raise ValueError(
                    f'FitNetsLoss: the connector of stage pair {index} maps '
                    f'the student stage {tuple(student.shape)} to '
                    f'{tuple(hint.shape)}, but the teacher stage is '
                    f'{tuple(teacher.shape)}; set the stride of the '
                    'connector (e.g. connector=dict(type='
                    "'ConvBNConnector', kernel_size=3, stride=2) for a "
                    'student stage of twice the resolution), or choose '
                    'out_indices of matching resolutions')
            loss = loss + F.mse_loss(hint, teacher)
        return self.loss_weight * loss


def _positions(stages, count: int) -> Tuple[int, ...]:
    """``stages`` as a tuple of ``count`` int positions."""
    if isinstance(stages, (str, bytes)) or not isinstance(
            stages, Sequence) or len(stages) != count or not all(
                isinstance(stage, Integral) and not isinstance(stage, bool)
                for stage in stages):
        raise ValueError(
            f'FitNetsLoss: stages={stages!r} must be a sequence of {count} '
            'int positions, one per entry of student_channels')
    return tuple(int(stage) for stage in stages)
