"""unix_extras: a downstream package that extends mmunix.

Importing it registers :class:`EnergyScorer` in ``mmunix.registry.TASK_UTILS``
and :class:`CosineKDLoss` in ``mmunix.registry.MODELS``. A config makes that
happen with ``custom_imports = dict(imports=['unix_extras'])``.
"""
from .cosine_kd_loss import CosineKDLoss
from .energy_scorer import EnergyScorer

__all__ = ['EnergyScorer', 'CosineKDLoss']
