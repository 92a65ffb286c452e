"""The CIFAR VGGs with BatchNorm of the KD community (vgg8 ... vgg19).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition" (ICLR 2015), cut to five conv blocks with the module names of
RepDistiller, so that a community ``state_dict`` loads after prefixing
``backbone.``.
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS
from ..utils import KAIMING_CONV_INIT, CIFARBackbone, parse_arch


def make_vgg_block(in_channels: int, widths: List[int]) -> nn.Sequential:
    """``(3x3 conv with bias, BN, ReLU)`` per width, minus the last ReLU.

    The community applies the block's last ReLU in ``forward``; dropping it
    here keeps the key indices (``block0.3.weight`` is the second conv).

    Shapes:
        ``(N, in_channels, H, W) -> (N, widths[-1], H, W)``
    """
    layers = []
    for width in widths:
        layers += [
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True)
        ]
        in_channels = width
    return nn.Sequential(*layers[:-1])


@MODELS.register_module()
class CIFARVGG(CIFARBackbone):
    """VGG with BN for 32x32 (or 64x64) inputs: five conv blocks.

    Stage ``i`` is ``relu(block{i}(pool{i-1}(x)))``. The fourth max-pool,
    ``pool3``, runs only for 64x64 inputs, as in the community code, so at
    32x32 the last two stages are both 4x4. Stages for a ``(N, 3, 32, 32)``
    input:

    ====  =========================  ====================
    idx   modules                    output
    ====  =========================  ====================
    0     block0, relu               ``(N, 64, 32, 32)``
    1     pool0, block1, relu        ``(N, 128, 16, 16)``
    2     pool1, block2, relu        ``(N, 256, 8, 8)``
    3     pool2, block3, relu        ``(N, 512, 4, 4)``
    4     [pool3], block4, relu      ``(N, 512, 4, 4)``
    ====  =========================  ====================

    Args:
        arch (str): One of :data:`ARCH_SETTINGS`. Defaults to ``'vgg13'``.
        out_indices (int | Sequence[int]): See :class:`CIFARBackbone`.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to :data:`KAIMING_CONV_INIT`, the community's.
    """
    num_stages = 5

    def __init__(self,
                 arch: str = 'vgg13',
                 out_indices: Union[int, Sequence[int]] = (-1, ),
                 init_cfg=KAIMING_CONV_INIT):
        super().__init__(out_indices, init_cfg)
        block_widths = parse_arch(type(self).__name__, arch, ARCH_SETTINGS)
        self.arch = arch

        in_channels = 3
        for i, widths in enumerate(block_widths):
            self.add_module(f'block{i}', make_vgg_block(in_channels, widths))
            in_channels = widths[-1]
        self.pool0 = nn.MaxPool2d(2, 2)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.pool3 = nn.MaxPool2d(2, 2)

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(N, 3, H, W)`` images -> the features of all stages.

        ``H`` is 32 or 64; only at 64 does ``pool3`` run.
        """
        skip_pool3 = x.shape[2] != 64
        feats = [F.relu(self.block0(x))]
        feats.append(F.relu(self.block1(self.pool0(feats[-1]))))
        feats.append(F.relu(self.block2(self.pool1(feats[-1]))))
        feats.append(F.relu(self.block3(self.pool2(feats[-1]))))
        x = feats[-1] if skip_pool3 else self.pool3(feats[-1])
        feats.append(F.relu(self.block4(x)))
        return feats


#: ``arch -> conv widths of block0 .. block4``.
ARCH_SETTINGS = {
    'vgg8': [[64], [128], [256], [512], [512]],
    'vgg11': [[64], [128], [256, 256], [512, 512], [512, 512]],
    'vgg13': [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    'vgg16': [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512],
              [512, 512, 512]],
    'vgg19': [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512],
              [512, 512, 512, 512]],
}
