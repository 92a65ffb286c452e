"""The CIFAR MobileNetV2 of the KD community ("mobile_half" by default).

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (CVPR
2018), in RepDistiller's CIFAR variant and module names, so that a community
``state_dict`` loads after prefixing ``backbone.``. Unlike ImageNet's, the
second setting keeps stride 1, and the stem keeps stride 2, so a 32x32 image
ends at 2x2.
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn

from mmunix.registry import MODELS
from ..utils import KAIMING_CONV_INIT, CIFARBackbone


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise, linear 1x1 projection; residual if able.

    The community keeps the 1x1 expansion even when ``expand_ratio`` is 1,
    so it is kept here too (``blocks.0.0.conv.0.weight`` exists).

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of the output.
        stride (int): Stride of the depthwise convolution.
        expand_ratio (int): Hidden width over ``in_channels``.

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)``
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 expand_ratio: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                hidden,
                hidden,
                3,
                stride,
                padding=1,
                groups=hidden,
                bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int,
                 stride: int) -> nn.Sequential:
    """``Sequential(conv without bias, BN, ReLU)``: the stem and ``conv2``."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


@MODELS.register_module()
class CIFARMobileNetV2(CIFARBackbone):
    """MobileNetV2 for 32x32 inputs: stride-2 stem, 7 block groups, ``conv2``.

    ``blocks[i]`` is the ``i``-th row of :data:`BLOCK_SETTINGS`. The stages
    group them as the community's feature taps do; the last stage ends with
    the 1x1 ``conv2`` to 1280 channels, whose output is what global average
    pooling consumes. Stages for a ``(N, 3, 32, 32)`` input, channels at the
    default ``widen_factor=0.5``:

    ====  ======================  ======================
    idx   modules                 output
    ====  ======================  ======================
    0     conv1                   ``(N, 16, 16, 16)``
    1     blocks[0:2]             ``(N, 12, 16, 16)``
    2     blocks[2]               ``(N, 16, 8, 8)``
    3     blocks[3:5]             ``(N, 48, 4, 4)``
    4     blocks[5:7], conv2      ``(N, 1280, 2, 2)``
    ====  ======================  ======================

    Args:
        widen_factor (float): Width multiplier; channels are
            ``int(c * widen_factor)``. Defaults to 0.5 ("mobile_half").
        expand_ratio (int): Expansion ``t`` of every block group but the
            first, which always uses 1. Defaults to 6.
        out_indices (int | Sequence[int]): See :class:`CIFARBackbone`.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to :data:`KAIMING_CONV_INIT`, the community's.
    """
    num_stages = 5
    #: ``blocks`` slice of each stage after the stem.
    stage_blocks = (slice(0, 2), slice(2, 3), slice(3, 5), slice(5, 7))

    def __init__(self,
                 widen_factor: float = 0.5,
                 expand_ratio: int = 6,
                 out_indices: Union[int, Sequence[int]] = (-1, ),
                 init_cfg=KAIMING_CONV_INIT):
        super().__init__(out_indices, init_cfg)
        if widen_factor <= 0 or expand_ratio < 1:
            raise ValueError(
                f'{type(self).__name__}: widen_factor={widen_factor} must be '
                f'> 0 and expand_ratio={expand_ratio} must be >= 1')
        self.widen_factor = widen_factor
        self.expand_ratio = expand_ratio

        in_channels = int(32 * widen_factor)
        self.conv1 = conv_bn_relu(3, in_channels, 3, stride=2)
        self.blocks = nn.ModuleList()
        for t, c, n, s in BLOCK_SETTINGS:
            out_channels = int(c * widen_factor)
            group = []
            for i in range(n):
                group.append(
                    InvertedResidual(in_channels, out_channels,
                                     s if i == 0 else 1,
                                     expand_ratio if t is None else t))
                in_channels = out_channels
            self.blocks.append(nn.Sequential(*group))
        # The community never narrows the 1x1 head, only widens it.
        last_channels = int(1280 * max(widen_factor, 1))
        self.conv2 = conv_bn_relu(in_channels, last_channels, 1, stride=1)

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(N, 3, H, W)`` images -> the features of all stages."""
        feats = [self.conv1(x)]
        for blocks in self.stage_blocks:
            x = feats[-1]
            for block in self.blocks[blocks]:
                x = block(x)
            feats.append(x)
        feats[-1] = self.conv2(feats[-1])
        return feats


#: ``(expand ratio t, base channels c, blocks n, first stride s)`` per block
#: group; ``t=None`` stands for the ``expand_ratio`` argument.
BLOCK_SETTINGS = (
    (1, 16, 1, 1),
    (None, 24, 2, 1),
    (None, 32, 3, 2),
    (None, 64, 4, 2),
    (None, 96, 3, 1),
    (None, 160, 3, 2),
    (None, 320, 1, 1),
)
