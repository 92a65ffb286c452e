"""The pre-activation Wide ResNets of the KD community (wrn_16_1 ... wrn_40_2).

Zagoruyko & Komodakis, "Wide Residual Networks" (BMVC 2016), with the module
names of RepDistiller, so that a community ``state_dict`` loads after prefixing
``backbone.``. Dropout is 0 throughout the zoo and is left out.
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn

from mmunix.registry import MODELS
from ..utils import KAIMING_CONV_INIT, CIFARBackbone, parse_arch


class BasicBlock(nn.Module):
    """Pre-activation block: (BN, ReLU, 3x3 conv) twice, plus a shortcut.

    When the width changes, the pre-activation of the input is shared by the
    residual branch and the 1x1 ``convShortcut`` projection; otherwise the
    shortcut is the raw input.

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of the output.
        stride (int): Stride of the first convolution and of the projection.

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)``
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, padding=1, bias=False)
        # As in the community code, only a width change is projected; every
        # stride-2 block of the zoo also changes the width.
        self.convShortcut = None
        if in_channels != out_channels:
            self.convShortcut = nn.Conv2d(
                in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(preact))))
        if self.convShortcut is None:
            return x + out
        return self.convShortcut(preact) + out


class NetworkBlock(nn.Module):
    """A stage: ``num_blocks`` :class:`BasicBlock` s in ``layer``.

    The wrapper exists only for the community key names
    (``block1.layer.0.bn1.weight``).

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of the output.
        num_blocks (int): Number of blocks.
        stride (int): Stride of the first block.

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)``
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int,
                 stride: int):
        super().__init__()
        self.layer = nn.Sequential(*[
            BasicBlock(in_channels if i == 0 else out_channels, out_channels,
                       stride if i == 0 else 1) for i in range(num_blocks)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


@MODELS.register_module()
class WideResNet(CIFARBackbone):
    """WRN-depth-k for 32x32 inputs: a 3x3 stem and three pre-act stages.

    Each stage has ``(depth - 4) // 6`` blocks. Because the blocks are
    pre-activation, the network's final ``bn1`` + ReLU belong to the last
    stage: its output is what global average pooling consumes. Stages for a
    ``(N, 3, 32, 32)`` input:

    ====  ========================  =======================
    idx   modules                   output
    ====  ========================  =======================
    0     conv1                     ``(N, 16, 32, 32)``
    1     block1                    ``(N, 16 * k, 32, 32)``
    2     block2                    ``(N, 32 * k, 16, 16)``
    3     block3, bn1, relu         ``(N, 64 * k, 8, 8)``
    ====  ========================  =======================

    Args:
        arch (str): One of :data:`ARCH_SETTINGS`, named ``wrn_{depth}_{k}``.
            Defaults to ``'wrn_40_2'``.
        out_indices (int | Sequence[int]): See :class:`CIFARBackbone`.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to :data:`KAIMING_CONV_INIT`, the community's.
    """
    num_stages = 4

    def __init__(self,
                 arch: str = 'wrn_40_2',
                 out_indices: Union[int, Sequence[int]] = (-1, ),
                 init_cfg=KAIMING_CONV_INIT):
        super().__init__(out_indices, init_cfg)
        depth, k = parse_arch(type(self).__name__, arch, ARCH_SETTINGS)
        self.arch = arch

        num_blocks = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.block1 = NetworkBlock(16, 16 * k, num_blocks, 1)
        self.block2 = NetworkBlock(16 * k, 32 * k, num_blocks, 2)
        self.block3 = NetworkBlock(32 * k, 64 * k, num_blocks, 2)
        self.bn1 = nn.BatchNorm2d(64 * k)
        self.relu = nn.ReLU(inplace=True)

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(N, 3, H, W)`` images -> the features of all stages."""
        feats = [self.conv1(x)]
        feats.append(self.block1(feats[-1]))
        feats.append(self.block2(feats[-1]))
        feats.append(self.relu(self.bn1(self.block3(feats[-1]))))
        return feats


#: ``arch -> (depth, widening factor k)``.
ARCH_SETTINGS = {
    'wrn_16_1': (16, 1),
    'wrn_16_2': (16, 2),
    'wrn_40_1': (40, 1),
    'wrn_40_2': (40, 2),
}
