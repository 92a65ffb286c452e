"""The CIFAR ShuffleNetV1 of the KD community ("ShuffleV1", 3 groups).

Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network
for Mobile Devices" (CVPR 2018), in RepDistiller's CIFAR variant and module
names, so that a community ``state_dict`` loads after prefixing ``backbone.``.
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.utils import channel_shuffle

from mmunix.registry import MODELS
from ..utils import CIFARBackbone


class Bottleneck(nn.Module):
    """ShuffleNet unit: 1x1 group conv, shuffle, 3x3 depthwise, 1x1 group conv.

    A stride-2 unit concatenates a 3x3 average-pooled shortcut, so its own
    branch produces ``out_channels`` and the unit outputs
    ``out_channels + in_channels``; a stride-1 unit adds the identity.

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of the residual branch.
        stride (int): 1 or 2.
        groups (int): Groups of ``conv3`` and of the channel shuffle.
        conv1_groups (int): Groups of ``conv1``; 1 for the unit right after
            the stem, whose 24 channels are too few to split, as in the paper.

    Shapes:
        stride 1: ``(N, C, H, W) -> (N, C, H, W)`` with ``C == out_channels``;
        stride 2: ``(N, in_channels, H, W) ->
        (N, out_channels + in_channels, H / 2, W / 2)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 groups: int, conv1_groups: int):
        super().__init__()
        mid_channels = out_channels // 4
        self.stride = stride
        self.conv1_groups = conv1_groups
        self.conv1 = nn.Conv2d(
            in_channels, mid_channels, 1, groups=conv1_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(
            mid_channels,
            mid_channels,
            3,
            stride,
            padding=1,
            groups=mid_channels,
            bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(
            mid_channels, out_channels, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride == 2:
            self.shortcut = nn.Sequential(nn.AvgPool2d(3, 2, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.conv1_groups)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = self.shortcut(x)
        if self.stride == 2:
            return F.relu(torch.cat([out, shortcut], 1))
        return F.relu(out + shortcut)


@MODELS.register_module()
class CIFARShuffleNetV1(CIFARBackbone):
    """ShuffleNetV1 (g=3) for 32x32 inputs: a 1x1 stem and three stages.

    Stages for a ``(N, 3, 32, 32)`` input:

    ====  =====================  ====================
    idx   modules                output
    ====  =====================  ====================
    0     conv1, bn1, relu       ``(N, 24, 32, 32)``
    1     layer1                 ``(N, 240, 16, 16)``
    2     layer2                 ``(N, 480, 8, 8)``
    3     layer3                 ``(N, 960, 4, 4)``
    ====  =====================  ====================

    Args:
        out_indices (int | Sequence[int]): See :class:`CIFARBackbone`.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None: PyTorch's default, as in the community code.
    """
    num_stages = 4

    def __init__(self,
                 out_indices: Union[int, Sequence[int]] = (-1, ),
                 init_cfg=None):
        super().__init__(out_indices, init_cfg)

        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        in_channels = STEM_CHANNELS
        for i, (channels,
                num_blocks) in enumerate(zip(STAGE_CHANNELS, STAGE_BLOCKS)):
            conv1_groups = 1 if i == 0 else GROUPS
            self.add_module(
                f'layer{i + 1}',
                self._make_layer(in_channels, channels, num_blocks,
                                 conv1_groups))
            in_channels = channels

    @staticmethod
    def _make_layer(in_channels: int, out_channels: int, num_blocks: int,
                    conv1_groups: int) -> nn.Sequential:
        # The first unit's branch leaves room for the concatenated shortcut.
        blocks = [
            Bottleneck(in_channels, out_channels - in_channels, 2, GROUPS,
                       conv1_groups)
        ]
        blocks += [
            Bottleneck(out_channels, out_channels, 1, GROUPS, GROUPS)
            for _ in range(num_blocks - 1)
        ]
        return nn.Sequential(*blocks)

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(N, 3, H, W)`` images -> the features of all stages."""
        feats = [F.relu(self.bn1(self.conv1(x)))]
        for layer in (self.layer1, self.layer2, self.layer3):
            feats.append(layer(feats[-1]))
        return feats


#: Width of the 1x1 stem.
STEM_CHANNELS = 24
#: Output channels of the three stages.
STAGE_CHANNELS = (240, 480, 960)
#: Units per stage; the first of each halves the resolution.
STAGE_BLOCKS = (4, 8, 4)
#: Groups of the 1x1 group convolutions.
GROUPS = 3
