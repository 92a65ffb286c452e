"""Contrastive representation distillation with a memory bank of the
dataset."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, all_reduce, get_world_size

from mmunix.registry import MODELS
from .channel_checks import channel_pairs, check_channels, check_positive_ints
from .utils import pair_embeddings

#: Added to the denominators of the noise-contrastive terms, as in the
#: authors' code.
EPS = 1e-7


class CRDEmbedding(nn.Module):
    """A linear map to ``feat_dim`` followed by L2 normalisation.

    Shapes:
        ``(N, in_channels) -> (N, feat_dim)``, each row of unit norm.
    """

    def __init__(self, in_channels: int, feat_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_channels, feat_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(x.flatten(1)), dim=1)


@MODELS.register_module()
class CRDLoss(nn.Module):
    r"""Tell, in a shared embedding space, the teacher's and the student's
    view of the same image apart from the other images of the dataset.

    Proposed in `Contrastive Representation Distillation
    <https://arxiv.org/abs/1910.10699>`_ (Tian et al., ICLR 2020), in the
    form of the authors' code (RepDistiller ``crd/criterion.py`` and
    ``crd/memory.py``). It distils the ``(N, D)`` embeddings the heads
    classify (``distill_input='embedding'``) and needs each sample's dataset
    index (``uses_sample_indices``): the distiller reads
    ``DataSample.sample_idx``, which mmpretrain's ``PackInputs`` keeps by
    default.

    Two embedding heads (:class:`CRDEmbedding`, linear and L2 norm) map the
    student's and the teacher's embeddings to ``feat_dim``. Two memory banks,
    buffers of ``num_samples`` rows, hold one running embedding per dataset
    image for each network. For each sample the student's embedding is
    scored against the teacher bank's row of its own image (the positive)
    and ``num_negatives`` random rows, and the teacher's against the student
    bank's; after the scoring, the rows of the batch's images move towards
    the new embeddings (``row <- normalise(momentum·row + (1-momentum)·v)``).

    Reference hyper-parameters (RepDistiller ``train_student.py`` defaults
    and ``scripts/run_cifar_distill.sh``; mdistiller's ``CFG.CRD``
    agrees): ``feat_dim=128``, ``num_negatives=16384`` (``--nce_k``),
    ``temperature=0.07`` (``--nce_t``), ``momentum=0.5`` (``--nce_m``), weight
    0.8 (``-b 0.8``) beside cross-entropy of weight 1 and no KD loss
    (``-a 0``); "CRD+KD" adds the KD loss with weight 1 (``-a 1``).

    Args:
        student_channels (int): ``D_s``, the student's embedding size.
        teacher_channels (int): ``D_t``, the teacher's.
        num_samples (int): Rows of each memory bank: the number of images
            of the training set (50000 for CIFAR-100). Every sample index
            must be below it.
        feat_dim (int): Size of the shared embedding space. Defaults to 128.
        num_negatives (int): Rows drawn per sample as negatives. Defaults
            to 16384.
        temperature (float): Of the exponential scores. Defaults to 0.07.
        momentum (float): Weight of a memory row's old value in its update,
            in ``[0, 1)``. Defaults to 0.5.
        loss_weight (float): Factor on the loss. Defaults to 1.0.

    Note:
        With :math:`v` a sample's embedding, :math:`w_j` the other bank's
        rows of its positive (:math:`j = 0`) and its :math:`K` negatives,
        :math:`p_j = \exp(w_j \cdot v / T) / Z` and :math:`c = K /`
        ``num_samples``, each side's loss is the noise-contrastive estimation
        loss

        .. math::
            -\frac{1}{N} \sum_{n} \Big( \log \frac{p_0}{p_0 + c}
            + \sum_{j=1}^{K} \log \frac{c}{p_j + c} \Big),

        and the loss is the sum of the student's and the teacher's side.
        :math:`Z` (one per side) is fixed at the first training step to
        ``num_samples`` times the mean of :math:`\exp(w_j \cdot v / T)` over
        that batch, averaged over the processes of a distributed run, and
        saved with the banks.

        Differences from the reference: the negatives are drawn uniformly
        from all ``num_samples`` rows with torch's random number generator
        (so a seeded run is reproducible), as the reference's memory does
        when given no indices; its CIFAR-100 loader instead draws them among
        the images of the other classes, so here about 1 % of them share the
        positive's class. Under DDP every process gathers all processes'
        updates and applies them all; this needs equal batch sizes on all
        processes, which MMEngine's samplers give by padding each process's
        share of the dataset. A row updated twice in one step, which only
        that padding can cause, keeps one of the two updates; on a GPU,
        which one is not guaranteed to agree between processes.

        - Extra parameters: the two heads, ``(D_s + D_t + 2)·feat_dim``
          (16640 for resnet56 -> resnet20, 65792 for resnet32x4 ->
          resnet8x4). Buffers: the two banks, ``2·num_samples·feat_dim``
          floats (51 MB for CIFAR-100), in every checkpoint.
        - Cost per sample: the heads, ``(D_s + D_t)·feat_dim``
          multiply-adds; the scores, ``2·(num_negatives + 1)·feat_dim``
          multiply-adds (4.2 M with the reference values), outside any
          module with parameters; the same again backward. The scoring
          gathers ``(num_negatives + 1)·feat_dim`` floats per sample and
          bank (8.4 MB; 0.8 GB for the two banks at ``k=48``). On an
          accelerator only the first training step checks the indices
          against ``num_samples`` (one host sync); later, an index out of
          range fails in the gather.
        - Mixed samples (UNIX): a mixed sample's identity is its base
          image, ``x[r_j]`` of step 5 in docs/algorithm.md, whose dataset
          index the distiller passes: its positive is that image's row, and
          its embeddings update that row. The image mixed into it is not
          excluded from the negatives, and rows are last written by the
          mixed views of their images, as the student sees them.
    """
    distill_input = 'embedding'
    uses_sample_indices = True

    def __init__(self,
                 student_channels: int,
                 teacher_channels: int,
                 num_samples: int,
                 feat_dim: int = 128,
                 num_negatives: int = 16384,
                 temperature: float = 0.07,
                 momentum: float = 0.5,
                 loss_weight: float = 1.0):
        super().__init__()
        check_positive_ints(
            'CRDLoss',
            student_channels=student_channels,
            teacher_channels=teacher_channels,
            num_samples=num_samples,
            feat_dim=feat_dim,
            num_negatives=num_negatives)
        if not 0 < temperature < math.inf:
            raise ValueError(f'CRDLoss: temperature={temperature!r} must be '
                             'positive and finite')
        if not 0 <= momentum < 1:
            raise ValueError(
                f'CRDLoss: momentum={momentum!r} must lie in [0, 1)')
        self.channels = channel_pairs('CRDLoss', student_channels,
                                      teacher_channels)
        self.num_samples = num_samples
        self.num_negatives = num_negatives
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.loss_weight = loss_weight
        self.embed_student = CRDEmbedding(student_channels, feat_dim)
        self.embed_teacher = CRDEmbedding(teacher_channels, feat_dim)
        # The reference's initialisation: uniform in +-sqrt(3 / feat_dim),
        # rows of about unit norm.
        bound = 1. / math.sqrt(feat_dim / 3)
        for name in ('student_memory', 'teacher_memory'):
            self.register_buffer(
                name,
                torch.rand(num_samples, feat_dim).mul_(2 * bound).sub_(bound))
        #: Z of the student's and the teacher's side; -1 until the first
        #: training step sets it.
        self.register_buffer('normalizers', torch.full((2, ), -1.))
        self._normalizers_ready = False
        self._indices_checked = False
        # A loaded checkpoint may bring unset normalizers.
        self.register_load_state_dict_post_hook(_reset_normalizers)

    def forward(self,
                student_embeddings: torch.Tensor,
                teacher_embeddings: torch.Tensor,
                sample_indices: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Compute the loss; in training mode, also update the banks.

        Args:
            student_embeddings (Tensor): ``(N, D_s)``.
            teacher_embeddings (Tensor): ``(N, D_t)``. No gradient flows
                into them.
            sample_indices (Tensor): ``(N,)`` dataset index of each sample
                (of its base image under UNIX).

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        student, teacher = pair_embeddings('CRDLoss', student_embeddings,
                                           teacher_embeddings)
        batch_size = student.size(0)
        if sample_indices is None or sample_indices.shape != (batch_size, ):
            raise ValueError(
                'CRDLoss needs sample_indices=, the (N,) dataset index of '
                'each sample (ClassificationDistiller passes them), got '
                f'{sample_indices!r} for N={batch_size}')
        check_channels('CRDLoss', self.channels, [student], [teacher],
                       self.distill_input)
        self._check_indices(sample_indices)

        student = self.embed_student(student).float()
        teacher = self.embed_teacher(teacher).float()
        with torch.autocast(student.device.type, enabled=False):
            # Column 0 holds the positive: the sample's own row.
            contrast = torch.randint(
                self.num_samples, (batch_size, self.num_negatives + 1),
                device=student.device)
            contrast[:, 0] = sample_indices
            # Each network's embedding is scored against the other's bank.
            scores = torch.stack([
                self._exp_scores(self.teacher_memory, contrast, student),
                self._exp_scores(self.student_memory, contrast, teacher)
            ])
            normalizers = self._normalizers(scores)
            probs = scores / normalizers.view(2, 1, 1)
            loss = self._noise_contrastive(probs[0]) + self._noise_contrastive(
                probs[1])
            if self.training:
                self._update_memory(sample_indices, student.detach(),
                                    teacher.detach())
        return self.loss_weight * loss

    def _check_indices(self, indices: torch.Tensor) -> None:
        """Refuse indices outside the banks.

        On an accelerator only the first training step is checked: reading
        values makes the host wait.
        """
        if indices.device.type != 'cpu' and self._indices_checked:
            return
        if self.training:
            self._indices_checked = True
        outside = indices[(indices < 0) | (indices >= self.num_samples)]
        if outside.numel():
            raise ValueError(
                f'CRDLoss: sample index {int(outside[0])} is outside the '
                f'memory banks of num_samples={self.num_samples} rows; set '
                'num_samples of the CRDLoss config '
                '(model.feature_losses.<name>.num_samples) to the number of '
                'training images, len(train_dataloader.dataset) (50000 for '
                'CIFAR-100)')

    def _exp_scores(self, memory: torch.Tensor, contrast: torch.Tensor,
                    embeddings: torch.Tensor) -> torch.Tensor:
        """``(N, K+1)`` ``exp(w·v / T)`` of each sample's rows ``w``."""
        rows = memory[contrast]  # (N, K+1, feat_dim), a copy
        return torch.bmm(rows, embeddings.unsqueeze(2)).squeeze(2).div(
            self.temperature).exp()

    def _normalizers(self, scores: torch.Tensor) -> torch.Tensor:
        """``(2,)`` Z of the two sides, set at the first training step."""
        estimate = scores.detach().flatten(1).mean(1) * self.num_samples
        if not self.training:
            return torch.where(self.normalizers > 0, self.normalizers,
                               estimate)
        if not self._normalizers_ready:
            # Every process runs this at its first step, so that all use
            # the same Z. torch.where keeps resumed values without reading
            # them on the host.
            if get_world_size() > 1:
                all_reduce(estimate, op='mean')
            self.normalizers.copy_(
                torch.where(self.normalizers > 0, self.normalizers, estimate))
            self._normalizers_ready = True
        return self.normalizers.clone()

    def _noise_contrastive(self, probs: torch.Tensor) -> torch.Tensor:
        """The noise-contrastive loss of ``(N, K+1)`` normalised scores,
        positive first."""
        noise = (probs.size(1) - 1) / self.num_samples
        positive, negatives = probs[:, 0], probs[:, 1:]
        log_d1 = torch.log(positive / (positive + noise + EPS))
        log_d0 = torch.log(noise / (negatives + noise + EPS))
        return -(log_d1.sum() + log_d0.sum()) / probs.size(0)

    @torch.no_grad()
    def _update_memory(self, indices: torch.Tensor, student: torch.Tensor,
                       teacher: torch.Tensor) -> None:
        """Move the rows of ``indices`` towards the new embeddings, with every
        process's samples."""
        if get_world_size() > 1:
            indices = torch.cat(all_gather(indices))
            both = torch.cat(all_gather(torch.cat([student, teacher], 1)))
            student, teacher = both.split(student.size(1), dim=1)
        for memory, embeddings in ((self.student_memory, student),
                                   (self.teacher_memory, teacher)):
            rows = memory[indices].mul_(self.momentum).add_(
                embeddings, alpha=1 - self.momentum)
            memory.index_copy_(0, indices, F.normalize(rows, dim=1))


def _reset_normalizers(module: CRDLoss, incompatible_keys) -> None:
    module._normalizers_ready = False
