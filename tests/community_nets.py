"""The community CIFAR-100 networks, as a test oracle for mmunix.

Written from ``docs/notes/community_layout.md`` in plain PyTorch: the module
names (hence ``state_dict`` keys) and the forward pass, pooling included, are
those of RepDistiller / CRD / mdistiller / UNIXKD. ``features(x)`` is what the
community pools; ``forward(x)`` returns logits. Build one with
``build_community_net('resnet56')``; the names match
``configs/_base_/models/cifar/<arch>.py``.
"""
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F


def shuffle(x, groups):
    """Channel shuffle: ``(N, g*c, H, W)``, group-major -> channel-major."""
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w).permute(0, 2, 1, 3, 4)
    return x.reshape(n, c, h, w)


def conv(cin, cout, k, stride=1, groups=1, bias=False):
    """A ``k x k`` 'same' convolution (``k`` odd)."""
    return nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias)


def stage(make_block, cin, cout, num, stride):
    """``num`` blocks; only the first one strides and changes width."""
    return nn.Sequential(*[
        make_block(cin if i == 0 else cout, cout, stride if i == 0 else 1)
        for i in range(num)
    ])


class Classifier(nn.Module):
    """``features`` -> community pooling -> flatten -> classifier."""
    head_name = 'fc'

    def pool(self, x):
        raise NotImplementedError

    def forward(self, x):
        out = self.pool(self.features(x)).flatten(1)
        return getattr(self, self.head_name)(out)


# ResNet (resnet8 ... resnet110, resnet8x4, resnet32x4) ---------------------
class ResBasic(nn.Module):

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv(cout, cout, 3)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        res = x if self.downsample is None else self.downsample(x)
        out += res
        return F.relu(out)


class ResNet(Classifier):

    def __init__(self, depth, widths, num_classes=100):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = conv(3, widths[0], 3)
        self.bn1 = nn.BatchNorm2d(widths[0])
        for i, stride in enumerate((1, 2, 2), 1):
            setattr(self, f'layer{i}',
                    stage(ResBasic, widths[i - 1], widths[i], n, stride))
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(widths[3], num_classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def pool(self, x):
        return self.avgpool(x)


# WideResNet (pre-activation) -----------------------------------------------
class WideBasic(nn.Module):

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU()
        self.conv1 = conv(cin, cout, 3, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.conv2 = conv(cout, cout, 3)
        self.convShortcut = (None if cin == cout else conv(
            cin, cout, 1, stride))

    def forward(self, x):
        act = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(act))))
        if self.convShortcut is None:
            return torch.add(x, out)
        return torch.add(self.convShortcut(act), out)


class NetworkBlock(nn.Module):

    def __init__(self, num, cin, cout, stride):
        super().__init__()
        self.layer = stage(WideBasic, cin, cout, num, stride)

    def forward(self, x):
        return self.layer(x)


class WideResNet(Classifier):

    def __init__(self, depth, widen, num_classes=100):
        super().__init__()
        c = [16, 16 * widen, 32 * widen, 64 * widen]
        n = (depth - 4) // 6
        self.conv1 = conv(3, c[0], 3)
        self.block1 = NetworkBlock(n, c[0], c[1], 1)
        self.block2 = NetworkBlock(n, c[1], c[2], 2)
        self.block3 = NetworkBlock(n, c[2], c[3], 2)
        self.bn1 = nn.BatchNorm2d(c[3])
        self.relu = nn.ReLU()
        self.fc = nn.Linear(c[3], num_classes)

    def features(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.relu(self.bn1(x))

    def pool(self, x):
        return F.avg_pool2d(x, 8)


# VGG with BatchNorm ----------------------------------------------------------
VGG_CFGS = {
    'vgg8': [[64], [128], [256], [512], [512]],
    'vgg11': [[64], [128], [256, 256], [512, 512], [512, 512]],
    'vgg13': [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    'vgg16': [[64, 64], [128, 128], [256] * 3, [512] * 3, [512] * 3],
    'vgg19': [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}


class VGG(Classifier):
    head_name = 'classifier'

    def __init__(self, cfg, num_classes=100):
        super().__init__()
        cin = 3
        for i, widths in enumerate(cfg):
            layers = []
            for w in widths:
                layers += [
                    conv(cin, w, 3, bias=True),
                    nn.BatchNorm2d(w),
                    nn.ReLU()
                ]
                cin = w
            setattr(self, f'block{i}', nn.Sequential(*layers[:-1]))
        for i in range(4):
            setattr(self, f'pool{i}', nn.MaxPool2d(2, 2))
        self.pool4 = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(512, num_classes)

    def features(self, x):
        size = x.shape[2]
        for i in range(5):
            x = F.relu(getattr(self, f'block{i}')(x))
            if i < 3 or (i == 3 and size == 64):
                x = getattr(self, f'pool{i}')(x)
        return x

    def pool(self, x):
        return self.pool4(x)


# MobileNetV2 ("mobile_half": T=6, width 0.5) -------------------------------
class InvertedResidual(nn.Module):

    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hid = cin * t
        self.use_res_connect = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            conv(cin, hid, 1), nn.BatchNorm2d(hid), nn.ReLU(),
            conv(hid, hid, 3, stride, groups=hid), nn.BatchNorm2d(hid),
            nn.ReLU(), conv(hid, cout, 1), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.conv(x)
        return x + out if self.use_res_connect else out


class MobileNetV2(Classifier):
    head_name = 'classifier'

    def __init__(self, num_classes=100, t=6, width=0.5):
        super().__init__()
        settings = [(1, 16, 1, 1), (t, 24, 2, 1), (t, 32, 3, 2), (t, 64, 4, 2),
                    (t, 96, 3, 1), (t, 160, 3, 2), (t, 320, 1, 1)]
        cin = int(32 * width)
        self.conv1 = nn.Sequential(
            conv(3, cin, 3, 2), nn.BatchNorm2d(cin), nn.ReLU())
        self.blocks = nn.ModuleList()
        for expand, c, n, s in settings:
            cout = int(c * width)
            self.blocks.append(
                stage(partial(InvertedResidual, t=expand), cin, cout, n, s))
            cin = cout
        self.conv2 = nn.Sequential(
            conv(cin, 1280, 1), nn.BatchNorm2d(1280), nn.ReLU())
        self.avgpool = nn.AvgPool2d(32 // 16, ceil_mode=True)
        self.classifier = nn.Sequential(nn.Linear(1280, num_classes))

    def features(self, x):
        x = self.conv1(x)
        for block in self.blocks:
            x = block(x)
        return self.conv2(x)

    def pool(self, x):
        return self.avgpool(x)


# ShuffleNetV1 (ShuffleV1) --------------------------------------------------
class ShuffleV1Unit(nn.Module):

    def __init__(self, cin, cout, stride, groups):
        super().__init__()
        mid = int(cout / 4)
        self.g = 1 if cin == 24 else groups
        self.stride = stride
        self.conv1 = conv(cin, mid, 1, groups=self.g)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = conv(mid, mid, 3, stride, groups=mid)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = conv(mid, cout, 1, groups=groups)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride == 2:
            self.shortcut = nn.Sequential(nn.AvgPool2d(3, 2, 1))

    def forward(self, x):
        out = shuffle(F.relu(self.bn1(self.conv1(x))), self.g)
        out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out)))))
        res = self.shortcut(x)
        if self.stride == 2:
            return F.relu(torch.cat([out, res], 1))
        return F.relu(out + res)


class ShuffleV1(Classifier):
    head_name = 'linear'

    def __init__(self,
                 num_classes=100,
                 widths=(240, 480, 960),
                 depths=(4, 8, 4),
                 groups=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        cin = 24
        for i, (width, depth) in enumerate(zip(widths, depths), 1):
            units = []
            for j in range(depth):
                # a strided unit concatenates its input to its output
                cout = width - cin if j == 0 else width
                units.append(
                    ShuffleV1Unit(cin, cout, 2 if j == 0 else 1, groups))
                cin = width
            setattr(self, f'layer{i}', nn.Sequential(*units))
        self.linear = nn.Linear(widths[-1], num_classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def pool(self, x):
        return F.avg_pool2d(x, 4)


# ShuffleNetV2 (ShuffleV2, net_size 1) -------------------------------------
class ShuffleV2Unit(nn.Module):
    """The stride-1 unit: half the channels pass, half are transformed."""

    def __init__(self, c):
        super().__init__()
        h = c // 2
        self.conv1 = conv(h, h, 1)
        self.bn1 = nn.BatchNorm2d(h)
        self.conv2 = conv(h, h, 3, groups=h)
        self.bn2 = nn.BatchNorm2d(h)
        self.conv3 = conv(h, h, 1)
        self.bn3 = nn.BatchNorm2d(h)

    def forward(self, x):
        h = x.shape[1] // 2
        keep, x = x[:, :h], x[:, h:]
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        out = F.relu(self.bn3(self.conv3(out)))
        return shuffle(torch.cat([keep, out], 1), 2)


class ShuffleV2Down(nn.Module):
    """The stride-2 unit: two branches on the full input, concatenated."""

    def __init__(self, cin, cout):
        super().__init__()
        mid = cout // 2
        self.conv1 = conv(cin, cin, 3, 2, groups=cin)
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv2 = conv(cin, mid, 1)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = conv(cin, mid, 1)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = conv(mid, mid, 3, 2, groups=mid)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = conv(mid, mid, 1)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x):
        left = F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = self.bn4(self.conv4(F.relu(self.bn3(self.conv3(x)))))
        right = F.relu(self.bn5(self.conv5(right)))
        return shuffle(torch.cat([left, right], 1), 2)


class ShuffleV2(Classifier):
    head_name = 'linear'

    def __init__(self,
                 num_classes=100,
                 widths=(116, 232, 464, 1024),
                 depths=(3, 7, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        cin = 24
        for i, (width, depth) in enumerate(zip(widths, depths), 1):
            units = [ShuffleV2Down(cin, width)]
            units += [ShuffleV2Unit(width) for _ in range(depth)]
            setattr(self, f'layer{i}', nn.Sequential(*units))
            cin = width
        self.conv2 = conv(cin, widths[3], 1)
        self.bn2 = nn.BatchNorm2d(widths[3])
        self.linear = nn.Linear(widths[3], num_classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return F.relu(self.bn2(self.conv2(x)))

    def pool(self, x):
        return F.avg_pool2d(x, 4)


# ResNet50 (CIFAR stem, bottlenecks) ----------------------------------------
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, cout, stride):
        super().__init__()
        planes = cout // self.expansion
        self.conv1 = conv(cin, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv(planes, cout, 1)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out)))))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet50(Classifier):
    head_name = 'linear'

    def __init__(self, num_classes=100, depths=(3, 4, 6, 3)):
        super().__init__()
        self.conv1 = conv(3, 64, 3)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (planes,
                depth) in enumerate(zip((64, 128, 256, 512), depths), 1):
            cout = planes * Bottleneck.expansion
            setattr(self, f'layer{i}',
                    stage(Bottleneck, cin, cout, depth, 1 if i == 1 else 2))
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = nn.Linear(cin, num_classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
        return x

    def pool(self, x):
        return self.avgpool(x)


ARCHS = {
    **{
        f'resnet{d}': partial(ResNet, d, (16, 16, 32, 64))
        for d in (8, 14, 20, 32, 44, 56, 110)
    },
    'resnet8x4': partial(ResNet, 8, (32, 64, 128, 256)),
    'resnet32x4': partial(ResNet, 32, (32, 64, 128, 256)),
    **{
        f'wrn_{d}_{k}': partial(WideResNet, d, k)
        for d in (16, 40)
        for k in (1, 2)
    },
    **{
        name: partial(VGG, cfg)
        for name, cfg in VGG_CFGS.items()
    },
    'mobilenetv2': MobileNetV2,
    'shufflenetv1': ShuffleV1,
    'shufflenetv2': ShuffleV2,
    'resnet50': ResNet50,
}


def build_community_net(arch, num_classes=100):
    """A community network by its mmunix config name, e.g. ``'wrn_40_2'``."""
    return ARCHS[arch](num_classes=num_classes)
