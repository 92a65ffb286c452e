"""Trainable maps from the student's features to the teacher's shape."""
from mmcv.cnn import ConvModule

from mmunix.models.losses.channel_checks import check_positive_ints
from mmunix.registry import MODELS


@MODELS.register_module()
class ConvBNConnector(ConvModule):
    """Convolution, BatchNorm and an optional ReLU: the FitNets regressor, as
    an mmcv ``ConvModule`` with the reference's defaults.

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
        check_positive_ints(
            'ConvBNConnector',
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride)
        # No bias: BatchNorm follows (ConvModule's bias='auto').
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            norm_cfg=dict(type='BN'),
            act_cfg=dict(type='ReLU') if with_relu else None)
        # ConvModule re-initialises the convolution (Kaiming, fan-out); the
        # reference regressor keeps PyTorch's default initialisation.
        self.conv.reset_parameters()
