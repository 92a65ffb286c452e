"""One minus the top-class probability."""
import torch
import torch.nn.functional as F

from mmunix.registry import TASK_UTILS
from .base_scorer import BaseScorer


@TASK_UTILS.register_module()
class LeastConfidenceScorer(BaseScorer):
    r"""Score a sample by how little probability its top class gets.

    Note:
        With :math:`p = \mathrm{softmax}(z)`, the score is
        :math:`1 - \max_c p_c`, from 0 (one-hot) to :math:`1 - 1/C`
        (uniform).
    """

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` logits -> ``(N,)`` scores in ``[0, 1 - 1/C]``."""
        return 1 - F.softmax(logits, dim=1).amax(dim=1)
