"""Trainable maps from the student's features to the teacher's shape."""
import torch
import torch.nn as nn

from mmunix.registry import MODELS


@MODELS.register_module()
class ConvBNConnector(nn.Module):
    """Convolution, BatchNorm and an optional ReLU: the FitNets regressor.

    Maps a student feature map to the teacher's channel count (and, with a
    stride, to its resolution), so that a loss can compare the two. It is
    part of the loss that builds it, not of the student: it trains with the
    student and is dropped when the student is exported.

    This is the regressor of the CRD/RepDistiller benchmark's FitNets
    (``ConvReg`` in its ``models/util.py``) for feature maps of equal
    resolution: a 1x1 convolution, BatchNorm and ReLU. The reference gives
    its convolution a bias as well; BatchNorm subtracts the batch mean right
    after it, so a bias would never change the output, and it has none here.

    Args:
        in_channels (int): Channels of the student's feature map.
        out_channels (int): Channels of the teacher's.
        kernel_size (int): Of the convolution, padded by ``kernel_size //
            2``. Defaults to 1.
        stride (int): Of the convolution; 2 maps a student map of twice the
            teacher's resolution (the reference uses a 3x3 convolution of
            stride 2 there). Defaults to 1.
        with_relu (bool): End with a ReLU, as the reference does, since
            the teacher's stage outputs are post-ReLU. Defaults to True.

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H', W')`` with
        ``H' = (H + 2 * (kernel_size // 2) - kernel_size) // stride + 1``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 with_relu: bool = True):
        super().__init__()
        for key, value in (('in_channels', in_channels), ('out_channels',
                                                          out_channels),
                           ('kernel_size', kernel_size), ('stride', stride)):
            if isinstance(value,
                          bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'ConvBNConnector: {key}={value!r} must be '
                                 'a positive int')
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True) if with_relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))
