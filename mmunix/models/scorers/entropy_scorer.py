"""Entropy of the predicted class distribution, UNIX's default scorer."""
import torch
import torch.nn.functional as F

from mmunix.registry import TASK_UTILS
from .base_scorer import BaseScorer


@TASK_UTILS.register_module()
class EntropyScorer(BaseScorer):
    r"""Score a sample by the entropy of its softmax prediction.

    Note:
        With :math:`p = \mathrm{softmax}(z)`, the score is
        :math:`-\sum_c p_c \log p_c`, from 0 (one-hot) to :math:`\log C`
        (uniform).
    """

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` logits -> ``(N,)`` entropies in nats."""
        # log_softmax avoids log(softmax(z)), which is -inf wherever the
        # softmax underflows to 0.
        log_probs = F.log_softmax(logits, dim=1)
        # A -inf logit (a masked class) has p = 0; clamping its log keeps
        # 0 * log 0 at 0 instead of NaN.
        lowest = torch.finfo(log_probs.dtype).min
        return -(log_probs.exp() * log_probs.clamp(min=lowest)).sum(dim=1)
