"""Uniform random scores: the baseline that ignores the student."""
import torch

from mmunix.registry import TASK_UTILS
from .base_scorer import BaseScorer


@TASK_UTILS.register_module()
class RandomScorer(BaseScorer):
    """Score every sample with an independent draw from ``U(0, 1)``.

    Ranking by these scores is a uniformly random order, the baseline that
    shows what ranking by uncertainty adds. The draws come from the global RNG
    of the logits' device, so ``torch.manual_seed`` reproduces them.
    """

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` logits -> ``(N,)`` scores in ``[0, 1)``."""
        return torch.rand(
            logits.size(0), device=logits.device, dtype=logits.dtype)
