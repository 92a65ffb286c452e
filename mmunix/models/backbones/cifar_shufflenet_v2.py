"""The CIFAR ShuffleNetV2 of the KD community ("ShuffleV2", net size 1x).

Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
Design" (ECCV 2018), in RepDistiller's CIFAR variant and module names, so that
a community ``state_dict`` loads after prefixing ``backbone.``.
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.utils import channel_shuffle

from mmunix.registry import MODELS
from ..utils import CIFARBackbone


class BasicBlock(nn.Module):
    """Stride-1 unit: keep half the channels, transform the other half.

    The transformed half goes through 1x1, 3x3 depthwise and 1x1 convs; the
    halves are concatenated and shuffled in two groups.

    Args:
        channels (int): Channels of the input and the output (even).

    Shapes:
        ``(N, channels, H, W) -> (N, channels, H, W)``
    """

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.conv1 = nn.Conv2d(half, half, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(
            half, half, 3, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, half, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept, x = x.chunk(2, dim=1)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = F.relu(self.bn3(self.conv3(out)))
        return channel_shuffle(torch.cat([kept, out], 1), 2)


class DownBlock(nn.Module):
    """Stride-2 unit: two branches over the whole input, concatenated.

    Left: 3x3 depthwise (stride 2), 1x1. Right: 1x1, 3x3 depthwise (stride
    2), 1x1. Each gives ``out_channels // 2`` channels; the result is
    shuffled in two groups.

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of the output (even).

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H / 2, W / 2)``
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = out_channels // 2
        self.conv1 = nn.Conv2d(
            in_channels,
            in_channels,
            3,
            2,
            padding=1,
            groups=in_channels,
            bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(
            mid, mid, 3, 2, padding=1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = self.bn1(self.conv1(x))
        left = F.relu(self.bn2(self.conv2(left)))
        right = F.relu(self.bn3(self.conv3(x)))
        right = self.bn4(self.conv4(right))
        right = F.relu(self.bn5(self.conv5(right)))
        return channel_shuffle(torch.cat([left, right], 1), 2)


@MODELS.register_module()
class CIFARShuffleNetV2(CIFARBackbone):
    """ShuffleNetV2 1x for 32x32 inputs: a 1x1 stem, three stages, ``conv2``.

    Each stage is a :class:`DownBlock` followed by :class:`BasicBlock` s. The
    1x1 ``conv2`` to 1024 channels (with ``bn2`` and ReLU) belongs to the last
    stage, whose output is what global average pooling consumes. Stages for a
    ``(N, 3, 32, 32)`` input:

    ====  ========================  =====================
    idx   modules                   output
    ====  ========================  =====================
    0     conv1, bn1, relu          ``(N, 24, 32, 32)``
    1     layer1                    ``(N, 116, 16, 16)``
    2     layer2                    ``(N, 232, 8, 8)``
    3     layer3, conv2, bn2, relu  ``(N, 1024, 4, 4)``
    ====  ========================  =====================

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
            self.add_module(
                f'layer{i + 1}',
                nn.Sequential(
                    DownBlock(in_channels, channels),
                    *[BasicBlock(channels) for _ in range(num_blocks)]))
            in_channels = channels
        self.conv2 = nn.Conv2d(in_channels, LAST_CHANNELS, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(LAST_CHANNELS)

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(N, 3, H, W)`` images -> the features of all stages."""
        feats = [F.relu(self.bn1(self.conv1(x)))]
        feats.append(self.layer1(feats[-1]))
        feats.append(self.layer2(feats[-1]))
        x = self.layer3(feats[-1])
        feats.append(F.relu(self.bn2(self.conv2(x))))
        return feats


#: Width of the 1x1 stem.
STEM_CHANNELS = 24
#: Output channels of the three stages.
STAGE_CHANNELS = (116, 232, 464)
#: Stride-1 units per stage, after its :class:`DownBlock`.
STAGE_BLOCKS = (3, 7, 3)
#: Output channels of ``conv2``.
LAST_CHANNELS = 1024
