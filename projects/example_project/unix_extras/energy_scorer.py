"""The free energy of the student's logits as UNIX's uncertainty."""
from numbers import Real

import torch

from mmunix.models.scorers import BaseScorer
from mmunix.registry import TASK_UTILS


@TASK_UTILS.register_module()
class EnergyScorer(BaseScorer):
    r"""Score a sample by the free energy of its logits.

    Proposed as an out-of-distribution score in `Energy-based
    Out-of-distribution Detection <https://arxiv.org/abs/2010.03759>`_. Here
    it replaces the entropy in step 2 of UNIX's training step
    (docs/algorithm.md).

    Args:
        temperature (float): :math:`T`, positive. Defaults to 1.0.

    Note:
        The score of logits :math:`z \in \mathbb{R}^C` is

        .. math::
            E(z) = -T \log \sum_{c=1}^{C} \exp(z_c / T).

        Unlike the softmax-based scorers it sees the logits' scale: adding
        a constant :math:`a` to every logit lowers the energy by :math:`a`,
        so a sample with small logits (weak evidence for every class) ranks
        as more uncertain. As :math:`T \to 0` the energy tends to
        :math:`-\max_c z_c`. Higher means more uncertain.
    """

    def __init__(self, temperature: float = 1.0):
        if isinstance(temperature, bool) or not isinstance(
                temperature, Real) or not temperature > 0:
            raise ValueError('model.data_preprocessor.scorer.temperature='
                             f'{temperature!r} must be a positive number')
        self.temperature = float(temperature)

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` logits -> ``(N,)`` energies, in the logits' units."""
        temperature = self.temperature
        return -temperature * torch.logsumexp(logits / temperature, dim=1)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(temperature={self.temperature})'
