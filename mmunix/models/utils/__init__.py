from .cifar_backbone import (KAIMING_CONV_INIT, CIFARBackbone, parse_arch,
                             parse_out_indices)
from .community import convert_community_state_dict, load_community_state_dict

__all__ = [
    'CIFARBackbone', 'KAIMING_CONV_INIT', 'parse_arch', 'parse_out_indices',
    'convert_community_state_dict', 'load_community_state_dict'
]
