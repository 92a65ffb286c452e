from .at_loss import ATLoss
from .crd_loss import CRDLoss
from .dkd_loss import DKDLoss
from .fitnets_loss import FitNetsLoss
from .kd_loss import KDLoss
from .nst_loss import NSTLoss
from .pkt_loss import PKTLoss
from .rkd_loss import RKDLoss
from .sp_loss import SPLoss
from .vid_loss import VIDLoss

__all__ = [
    'KDLoss', 'ATLoss', 'SPLoss', 'DKDLoss', 'PKTLoss', 'RKDLoss', 'NSTLoss',
    'FitNetsLoss', 'VIDLoss', 'CRDLoss'
]
