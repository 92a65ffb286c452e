"""The CIFAR ResNets of the KD community (resnet8 ... resnet110, x4 variants).

These are the 3-stage ResNets of He et al., "Deep Residual Learning for Image
Recognition" (CVPR 2016, section 4.2), with the module names of RepDistiller,
so that a community ``state_dict`` loads after prefixing ``backbone.``.
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn

from mmunix.registry import MODELS
from ..utils import KAIMING_CONV_INIT, CIFARBackbone, parse_arch


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity or 1x1-projection shortcut.

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of the output.
        stride (int): Stride of the first convolution and of the projection.

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)``
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # The community projects whenever the shape changes, including
        # resnet8x4's first block, which widens 32 -> 64 at stride 1.
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


@MODELS.register_module()
class CIFARResNet(CIFARBackbone):
    """CIFAR ResNet: a 3x3 stem and three stages of :class:`BasicBlock`.

    Each stage has ``(depth - 2) // 6`` blocks; the second and third stages
    halve the resolution. Stages, with ``(w0, w1, w2, w3)`` the arch's widths
    (``(16, 16, 32, 64)``, or ``(32, 64, 128, 256)`` for the x4 archs), for a
    ``(N, 3, 32, 32)`` input:

    ====  =====================  ====================
    idx   modules                output
    ====  =====================  ====================
    0     conv1, bn1, relu       ``(N, w0, 32, 32)``
    1     layer1                 ``(N, w1, 32, 32)``
    2     layer2                 ``(N, w2, 16, 16)``
    3     layer3                 ``(N, w3, 8, 8)``
    ====  =====================  ====================

    Args:
        arch (str): One of :data:`ARCH_SETTINGS`. Defaults to ``'resnet56'``.
        out_indices (int | Sequence[int]): See :class:`CIFARBackbone`.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to :data:`KAIMING_CONV_INIT`, the community's.
    """
    num_stages = 4

    def __init__(self,
                 arch: str = 'resnet56',
                 out_indices: Union[int, Sequence[int]] = (-1, ),
                 init_cfg=KAIMING_CONV_INIT):
        super().__init__(out_indices, init_cfg)
        depth, widths = parse_arch(type(self).__name__, arch, ARCH_SETTINGS)
        self.arch = arch

        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        num_blocks = (depth - 2) // 6
        self.layer1 = self._make_layer(widths[0], widths[1], num_blocks, 1)
        self.layer2 = self._make_layer(widths[1], widths[2], num_blocks, 2)
        self.layer3 = self._make_layer(widths[2], widths[3], num_blocks, 2)

    @staticmethod
    def _make_layer(in_channels: int, out_channels: int, num_blocks: int,
                    stride: int) -> nn.Sequential:
        blocks = [BasicBlock(in_channels, out_channels, stride)]
        blocks += [
            BasicBlock(out_channels, out_channels)
            for _ in range(num_blocks - 1)
        ]
        return nn.Sequential(*blocks)

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(N, 3, H, W)`` images -> the features of all stages."""
        feats = [self.relu(self.bn1(self.conv1(x)))]
        for layer in (self.layer1, self.layer2, self.layer3):
            feats.append(layer(feats[-1]))
        return feats


#: ``arch -> (depth, (stem width, stage-1, stage-2, stage-3 widths))``.
ARCH_SETTINGS = {
    'resnet8': (8, (16, 16, 32, 64)),
    'resnet14': (14, (16, 16, 32, 64)),
    'resnet20': (20, (16, 16, 32, 64)),
    'resnet32': (32, (16, 16, 32, 64)),
    'resnet44': (44, (16, 16, 32, 64)),
    'resnet56': (56, (16, 16, 32, 64)),
    'resnet110': (110, (16, 16, 32, 64)),
    'resnet8x4': (8, (32, 64, 128, 256)),
    'resnet32x4': (32, (32, 64, 128, 256)),
}
