from .base_scorer import BaseScorer, build_scorer, registered_scorer_names
from .entropy_scorer import EntropyScorer
from .least_confidence_scorer import LeastConfidenceScorer
from .margin_scorer import MarginScorer
from .random_scorer import RandomScorer

__all__ = [
    'BaseScorer', 'build_scorer', 'registered_scorer_names', 'EntropyScorer',
    'LeastConfidenceScorer', 'MarginScorer', 'RandomScorer'
]
