"""The CIFAR bottleneck ResNet of the KD community ("ResNet50").

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), with the
ImageNet stem replaced by one stride-1 3x3 conv and no max-pool, in
RepDistiller's module names (``shortcut``, ``linear``), so that a community
``state_dict`` loads after prefixing ``backbone.``.
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmunix.registry import MODELS
from ..utils import KAIMING_CONV_INIT, CIFARBackbone, parse_arch


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, plus a shortcut.

    Args:
        in_channels (int): Channels of the input.
        planes (int): Width of the 3x3 conv; the output has ``4 * planes``.
        stride (int): Stride of the 3x3 conv and of the projection.

    Shapes:
        ``(N, in_channels, H, W) -> (N, 4 * planes, H / stride, W / stride)``
    """
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1):
        super().__init__()
        out_channels = self.expansion * planes
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        # An empty Sequential is the identity and adds no state_dict keys.
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


@MODELS.register_module()
class CIFARBottleneckResNet(CIFARBackbone):
    """Bottleneck ResNet for 32x32 inputs: a 3x3 stem and four stages.

    Stages for a ``(N, 3, 32, 32)`` input:

    ====  =====================  =====================
    idx   modules                output
    ====  =====================  =====================
    0     conv1, bn1, relu       ``(N, 64, 32, 32)``
    1     layer1                 ``(N, 256, 32, 32)``
    2     layer2                 ``(N, 512, 16, 16)``
    3     layer3                 ``(N, 1024, 8, 8)``
    4     layer4                 ``(N, 2048, 4, 4)``
    ====  =====================  =====================

    Args:
        arch (str): One of :data:`ARCH_SETTINGS`. Defaults to ``'resnet50'``.
        out_indices (int | Sequence[int]): See :class:`CIFARBackbone`.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to :data:`KAIMING_CONV_INIT`, the community's.
    """
    num_stages = 5

    def __init__(self,
                 arch: str = 'resnet50',
                 out_indices: Union[int, Sequence[int]] = (-1, ),
                 init_cfg=KAIMING_CONV_INIT):
        super().__init__(out_indices, init_cfg)
        stage_blocks = parse_arch(type(self).__name__, arch, ARCH_SETTINGS)
        self.arch = arch

        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_channels = 64
        for i, num_blocks in enumerate(stage_blocks):
            planes = 64 * 2**i
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(num_blocks):
                blocks.append(
                    Bottleneck(in_channels, planes, stride if j == 0 else 1))
                in_channels = planes * Bottleneck.expansion
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(N, 3, H, W)`` images -> the features of all stages."""
        feats = [F.relu(self.bn1(self.conv1(x)))]
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            feats.append(layer(feats[-1]))
        return feats


#: ``arch -> blocks per stage``.
ARCH_SETTINGS = {
    'resnet50': (3, 4, 6, 3),
}
