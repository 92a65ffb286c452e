"""The negated gap between the two most probable classes."""
import torch
import torch.nn.functional as F

from mmunix.registry import TASK_UTILS
from .base_scorer import BaseScorer


@TASK_UTILS.register_module()
class MarginScorer(BaseScorer):
    r"""Score a sample by how close its two most probable classes are.

    Note:
        With :math:`p = \mathrm{softmax}(z)` and :math:`p_{(1)} \ge p_{(2)}`
        its two largest entries, the score is :math:`-(p_{(1)} - p_{(2)})`,
        from -1 (one-hot) to 0 (a tie). It is negated so that, as for every
        scorer, higher means more uncertain.
    """

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` logits with ``C >= 2`` -> ``(N,)`` scores in ``[-1,
        0]``."""
        if logits.size(1) < 2:
            raise ValueError('MarginScorer needs at least 2 classes, got '
                             f'logits of shape {tuple(logits.shape)}')
        top2 = F.softmax(logits, dim=1).topk(2, dim=1).values
        return top2[:, 1] - top2[:, 0]
