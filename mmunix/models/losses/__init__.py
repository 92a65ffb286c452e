from .at_loss import ATLoss
from .kd_loss import KDLoss
from .sp_loss import SPLoss

__all__ = ['KDLoss', 'ATLoss', 'SPLoss']
