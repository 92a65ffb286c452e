"""Decoupled knowledge distillation: target and non-target parts of KD."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub, MMLogger

from mmunix.registry import MODELS


@MODELS.register_module()
class DKDLoss(nn.Module):
    r"""KD split into a target-class term (TCKD) and a non-target term (NCKD).

    Proposed in `Decoupled Knowledge Distillation
    <https://arxiv.org/abs/2203.08679>`_ (Zhao et al., CVPR 2022). It
    distils the ``(N, C)`` logits, like :class:`KDLoss`, and needs each
    sample's label to split them, so the distiller calls it with
    ``labels=``.

    Args:
        alpha (float): Weight of TCKD. Defaults to 1.0.
        beta (float): Weight of NCKD. Defaults to 8.0.
        temperature (float): Softmax temperature :math:`T`, positive.
            Defaults to 4.0.
        warmup_epochs (int): The loss is scaled by
            :math:`\min((e + 1) / \mathrm{warmup\_epochs}, 1)` in the
            0-based training epoch :math:`e`; 0 turns the warm-up off.
            Defaults to 20.
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    The defaults are those of the authors' code (mdistiller,
    ``mdistiller/engine/cfg.py``: ``ALPHA=1.0``, ``BETA=8.0``, ``T=4.0``,
    ``WARMUP=20``, with cross-entropy weight 1.0 beside it); its CIFAR-100
    configs lower ``beta`` for some pairs, e.g. to 2.0 for resnet56 ->
    resnet20 (``configs/cifar100/dkd/res56_res20.yaml``).

    Note:
        With :math:`p = \mathrm{softmax}(z / T)` and target class :math:`y`,
        :math:`b = (p_y, 1 - p_y)` is the binary target/non-target split and
        :math:`\hat p` the softmax of :math:`z / T` over the :math:`C - 1`
        non-target classes. The loss is

        .. math::
            w(e) \cdot T^2 \cdot \frac{1}{N} \sum_{i=1}^{N}
            \left[\alpha\, \mathrm{KL}(b^t_i \,\|\, b^s_i) +
            \beta\, \mathrm{KL}(\hat p^t_i \,\|\, \hat p^s_i)\right].

        With :math:`\alpha = \beta = 1` (and :math:`p^t_y` near 1) this is
        close to Hinton's KD; DKD's point is to weigh the non-target
        knowledge separately. Both terms are computed in log space, so a
        probability that underflows in float32 gives no NaN.

        **Warm-up.** mdistiller multiplies the loss by
        ``min(epoch / WARMUP, 1)`` with epochs counted from 1. Here the
        epoch comes from MMEngine's ``MessageHub`` (the ``epoch`` that
        ``RuntimeInfoHook`` records before each training epoch, restored on
        resume), and the factor is
        :math:`\min((e + 1) / \mathrm{warmup\_epochs}, 1)`: with the default
        20, 1/20 in the first epoch and 1 from the 20th on, as in mdistiller.
        Outside a training loop (the hub's ``loop_stage`` is not
        ``'train'``, e.g. a direct call) the factor is 1. MMEngine's
        ``IterBasedTrainLoop`` has no epochs (it reports epoch 0
        throughout), so set ``warmup_epochs=0`` or use an epoch-based loop;
        a warning is logged once when the run has fewer epochs than the
        warm-up.

        **Mixed samples (UNIX).** A mixed sample :math:`(1 - m)\, x_a + m\,
        x_b` is given the target class :math:`y_a` of its base image: the
        distiller passes the ``(k,)`` labels ``y_a`` (``labels_a`` of
        :class:`MixedBatch`). TCKD then asks how much the teacher believes
        in :math:`y_a` on the mixture, and NCKD transfers the teacher's
        distribution over all other classes, :math:`y_b` included. The clean,
        most uncertain samples have :math:`m \approx 0` and get DKD as on
        clean images; where :math:`m > 1/2` the partner dominates the pixels
        but the split still follows :math:`y_a`. Splitting by :math:`y_a`
        keeps DKD a function of one label per sample, as published, and
        follows the distiller's convention that ``labels`` and
        ``sample_indices`` describe each sample's base image.

        **Cost.** :math:`O(N C)` on the logits, as :class:`KDLoss`: no extra
        forward and no parameters.
    """

    distill_input = 'logits'
    uses_labels = True

    def __init__(self,
                 alpha: float = 1.0,
                 beta: float = 8.0,
                 temperature: float = 4.0,
                 warmup_epochs: int = 20,
                 loss_weight: float = 1.0):
        super().__init__()
        if not 0 < temperature < math.inf:
            raise ValueError(f'DKDLoss: temperature={temperature!r} must be '
                             'positive and finite')
        for name, value in (('alpha', alpha), ('beta', beta)):
            if not 0 <= value < math.inf:
                raise ValueError(f'DKDLoss: {name}={value!r} must be '
                                 'non-negative and finite')
        if isinstance(warmup_epochs, bool) or not isinstance(
                warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f'DKDLoss: warmup_epochs={warmup_epochs!r} must '
                             'be a non-negative int (0: no warm-up)')
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.temperature = float(temperature)
        self.warmup_epochs = warmup_epochs
        self._warned = False
        self.loss_weight = loss_weight

    def warmup_factor(self) -> float:
        """The warm-up factor of the current training epoch, 1 outside training
        or without a warm-up."""
        if self.warmup_epochs == 0:
            return 1.0
        hub = MessageHub.get_current_instance()
        epoch: Optional[int] = hub.get_info('epoch')
        if hub.get_info('loop_stage') != 'train' or epoch is None:
            return 1.0
        max_epochs = hub.get_info('max_epochs')
        if not self._warned and max_epochs is not None and \
                max_epochs < self.warmup_epochs:
            # An IterBasedTrainLoop reports a single epoch: the loss would
            # train at 1/warmup_epochs of its weight throughout.
            self._warned = True
            MMLogger.get_current_instance().warning(
                f'DKDLoss: warmup_epochs={self.warmup_epochs} is longer than '
                f'the run ({max_epochs} epoch(s); an IterBasedTrainLoop '
                'counts one), so the loss never reaches its full weight; '
                'set warmup_epochs=0 (or fewer epochs) in its config')
        return min((epoch + 1) / self.warmup_epochs, 1.0)

    @staticmethod
    def split_log_probs(logits: torch.Tensor, labels: torch.Tensor):
        """``(N, C)`` tempered logits -> ``(N, 2)`` log of ``(p_y, 1 - p_y)``
        and ``(N, C-1)`` log-softmax over the non-target classes."""
        num_classes = logits.size(1)
        # Column j of the non-target classes is class j, or j + 1 from the
        # target on: an index without boolean masking (no host sync).
        columns = torch.arange(num_classes - 1, device=logits.device)
        others = columns + (columns >= labels.unsqueeze(1)).long()
        other_logits = logits.gather(1, others)
        log_all = logits.logsumexp(dim=1, keepdim=True)
        log_others = other_logits.logsumexp(dim=1, keepdim=True)
        target = logits.gather(1, labels.unsqueeze(1))
        binary = torch.cat([target - log_all, log_others - log_all], dim=1)
        return binary, other_logits - log_others

    def forward(self, student_logits: torch.Tensor,
                teacher_logits: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_logits (Tensor): Shape ``(N, C)``, ``C >= 2``.
            teacher_logits (Tensor): Shape ``(N, C)``. It is a target, so no
                gradient flows into it.
            labels (Tensor): ``(N,)`` target classes; under UNIX those of
                the base images, ``y_a``.

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        if student_logits.shape != teacher_logits.shape or \
                student_logits.dim() != 2 or student_logits.size(1) < 2:
            raise ValueError(
                'DKDLoss: student and teacher logits must have the same '
                f'shape (N, C) with C >= 2, got '
                f'{tuple(student_logits.shape)} and '
                f'{tuple(teacher_logits.shape)}')
        if labels.shape != student_logits.shape[:1]:
            raise ValueError(
                f'DKDLoss: labels must have shape (N,) = '
                f'({student_logits.size(0)},), got {tuple(labels.shape)}')
        temperature = self.temperature
        labels = labels.long()
        s_binary, s_others = self.split_log_probs(student_logits / temperature,
                                                  labels)
        with torch.no_grad():
            t_binary, t_others = self.split_log_probs(
                teacher_logits.detach() / temperature, labels)
        tckd = F.kl_div(
            s_binary, t_binary, reduction='batchmean', log_target=True)
        nckd = F.kl_div(
            s_others, t_others, reduction='batchmean', log_target=True)
        scale = self.loss_weight * self.warmup_factor() * temperature**2
        return scale * (self.alpha * tckd + self.beta * nckd)
