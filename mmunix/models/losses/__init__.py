from .at_loss import ATLoss
from .dkd_loss import DKDLoss
from .kd_loss import KDLoss
from .nst_loss import NSTLoss
from .pkt_loss import PKTLoss
from .rkd_loss import RKDLoss
from .sp_loss import SPLoss

__all__ = [
    'KDLoss', 'ATLoss', 'SPLoss', 'DKDLoss', 'PKTLoss', 'RKDLoss', 'NSTLoss'
]
