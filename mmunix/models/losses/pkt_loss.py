"""Probabilistic knowledge transfer on the embeddings of a batch."""
import torch
import torch.nn as nn

from mmunix.registry import MODELS
from .utils import in_float32, pair_embeddings

#: Added to norms and probabilities, as in the authors' code.
EPS = 1e-7


@MODELS.register_module()
class PKTLoss(nn.Module):
    r"""Match the student's distribution of sample similarities to the
    teacher's.

    Proposed in `Learning Deep Representations with Probabilistic Knowledge
    Transfer <https://arxiv.org/abs/1803.10837>`_ (Passalis & Tefas, ECCV
    2018), in the form of the authors' code that the CRD/RepDistiller
    benchmark uses (``distiller_zoo/PKT.py``). It distils the ``(N, D)``
    embeddings the heads classify (``distill_input='embedding'``); the two
    networks' ``D`` may differ.

    Args:
        loss_weight (float): Factor on the loss. Defaults to 1.0. The CRD
            benchmark uses 30000 beside cross-entropy of weight 1 and no KD
            (``scripts/run_cifar_distill.sh``: ``-a 0 -b 30000``).

    Note:
        Each embedding is divided by its L2 norm plus :math:`\epsilon =
        10^{-7}`. The cosine similarities :math:`c_{ij}` are mapped to
        :math:`[0, 1]` by :math:`(c_{ij} + 1) / 2` and each row is
        normalised into a distribution :math:`P_{i\cdot}` over the batch,
        the sample itself included. The loss is

        .. math::
            \frac{1}{N^2} \sum_{i,j} P^t_{ij}
            \log \frac{P^t_{ij} + \epsilon}{P^s_{ij} + \epsilon},

        the mean over all :math:`N^2` entries, as in the reference (hence
        the large weight).

        **Mixed samples (UNIX).** The distributions are over the ``k``
        mixed samples that both networks see, so the student learns how the
        teacher relates the mixtures to each other; no label is used. Each
        row spreads over ``k`` samples instead of ``N``, which changes the
        loss's scale somewhat between KD and UNIX at one weight.

        **Cost.** Two ``(N, N)`` similarity matrices, :math:`O(N^2 D)`: no
        extra forward and no parameters.
    """

    distill_input = 'embedding'

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    @staticmethod
    def similarity_distribution(embedding: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` embeddings -> ``(N, N)`` rows of probabilities."""
        unit = embedding / (embedding.norm(dim=1, keepdim=True) + EPS)
        similarity = (unit @ unit.t() + 1) / 2
        return similarity / similarity.sum(dim=1, keepdim=True)

    @in_float32
    def forward(self, student_embedding: torch.Tensor,
                teacher_embedding: torch.Tensor) -> torch.Tensor:
        """KL divergence between the teacher's and the student's similarity
        distributions over the batch.

        Args:
            student_embedding (Tensor): ``(N, D_s)`` student embeddings
                (``(N, ...)`` is flattened).
            teacher_embedding (Tensor): ``(N, D_t)`` teacher embeddings of
                the same samples, the target: no gradient flows into them.

        Returns:
            Tensor: ``loss_weight`` times the mean KL entry, a scalar.
        """
        student, teacher = pair_embeddings('PKTLoss', student_embedding,
                                           teacher_embedding)
        p_s = self.similarity_distribution(student)
        p_t = self.similarity_distribution(teacher)
        kl = p_t * ((p_t + EPS).log() - (p_s + EPS).log())
        return self.loss_weight * kl.mean()
