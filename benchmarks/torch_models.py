"""Plain PyTorch reference implementations of the four benchmarked networks.

Written from the specifications in ``shared/reference/*.md`` (not from the original
code), with exactly the same parameter counts as the specs at the paper input sizes:

| builder | paper input (C, H, W) | trainable parameters |
|---|---|---|
| `slic_torch` | (1, 256, 256) | 155,711,685 |
| `cirrus_unet_torch` | (1, 128, 160) | 2,103,297 |
| `deeplabv3plus_torch` | (16, 768, 1152) | 56,454,720 |
| `flare_resnet34_torch` | (1, 512, 512) | 21,285,728 |

They exist only as speed references for ``benchmarks/``: same architecture, same
input size, batch and dtype as the Keras model they are timed against.  Every
builder takes the same size knobs the benchmark uses for its reduced CPU
configurations (``img_size``, ``middle_blocks`` ...), so that the parameter
count can be checked against the Keras model at every size, not only at the
paper size.  Importing this module needs ``torch`` (an optional dependency).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

# PyTorch's BatchNorm defaults (eps 1e-5, momentum 0.1) are what the originals use.


def count_trainable(model: nn.Module) -> int:
    """Number of trainable parameters (shared modules counted once, like Keras)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- Slic
class _ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SlicTorch(nn.Module):
    """Slic VGG-13-like classifier; ``layer8`` is applied three times (weight sharing, slic.md §3.2)."""

    def __init__(self, img_size: int = 256, num_classes: int = 5):
        super().__init__()
        if img_size % 32:
            raise ValueError(f"img_size must be a multiple of 32, got {img_size}")
        widths = [(1, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
        for i, (cin, cout) in enumerate(widths, start=1):
            setattr(self, f"layer{i}", _ConvBNReLU(cin, cout))
        self.pool = nn.MaxPool2d(2, 2)
        s = img_size // 32
        self.classifier = nn.Sequential(
            nn.Linear(512 * s * s, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.pool(self.layer2(self.layer1(x)))
        x = self.pool(self.layer4(self.layer3(x)))
        x = self.pool(self.layer6(self.layer5(x)))
        x = self.pool(self.layer8(self.layer7(x)))
        x = self.pool(self.layer8(self.layer8(x)))
        return self.classifier(torch.flatten(x, 1))


def slic_torch(img_size: int = 256, num_classes: int = 5) -> nn.Module:
    return SlicTorch(img_size=img_size, num_classes=num_classes)


# ----------------------------------------------------------------- CIRRUS U-Net
class CirrusUNetTorch(nn.Module):
    """Single-conv U-Net of the CIRRUS Keras notebook (cirrus.md §5.1): ReLU encoder, ELU decoder, no bottleneck."""

    def __init__(self, in_channels: int = 1, channels=(64, 128, 256)):
        super().__init__()
        self.enc = nn.ModuleList()
        cin = in_channels
        for c in channels:
            self.enc.append(nn.Conv2d(cin, c, 3, padding=1))
            cin = c
        self.dec = nn.ModuleList()
        for c in reversed(channels):
            self.dec.append(nn.Conv2d(cin + c, c, 3, padding=1))
            cin = c
        self.head = nn.Conv2d(cin, 1, 3, padding=1)

    def forward(self, x):
        skips = []
        for conv in self.enc:
            x = F.relu(conv(x))
            skips.append(x)
            x = F.max_pool2d(x, 2, 2)
        for conv, skip in zip(self.dec, reversed(skips)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.elu(conv(torch.cat([x, skip], dim=1)))
        return torch.sigmoid(self.head(x))


def cirrus_unet_torch(in_channels: int = 1, channels=(64, 128, 256)) -> nn.Module:
    return CirrusUNetTorch(in_channels=in_channels, channels=channels)


# --------------------------------------------------------------- DeepLabv3+
class _SepConv(nn.Module):
    """Depthwise (no bias, symmetric padding) then pointwise 1x1 (no bias); no BN inside (deepcam.md §5.1)."""

    def __init__(self, cin, cout, k=3, stride=1, dilation=1):
        super().__init__()
        pad = ((k + (k - 1) * (dilation - 1)) - 1) // 2
        self.depthwise = nn.Conv2d(cin, cin, k, stride, pad, dilation, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class _XBlock(nn.Module):
    def __init__(self, cin, planes, reps, stride=1, dilation=1, end_with_relu=True, grow_first=True, is_last=False):
        super().__init__()
        layers: list[nn.Module] = []
        f = cin
        if grow_first:
            layers += [_SepConv(cin, planes, 3, 1, dilation), nn.BatchNorm2d(planes), nn.ReLU()]
            f = planes
        for _ in range(reps - 1):
            layers += [_SepConv(f, f, 3, 1, dilation), nn.BatchNorm2d(f), nn.ReLU()]
        if not grow_first:
            layers += [_SepConv(cin, planes, 3, 1, dilation), nn.BatchNorm2d(planes), nn.ReLU()]
        layers = layers[:-1]  # the last ReLU is dropped
        if stride != 1:
            layers.append(_SepConv(planes, planes, 3, stride=2))
        elif is_last:
            layers.append(_SepConv(planes, planes, 3, stride=1))
        self.rep = nn.Sequential(*layers)
        if planes != cin or stride != 1:
            self.skip = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        else:
            self.skip = nn.Identity()
        self.end_with_relu = end_with_relu

    def forward(self, x):
        out = self.rep(x) + self.skip(x)
        return F.relu(out) if self.end_with_relu else out


def _cbr(cin, cout, k, dilation=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


def _deconv(cin, cout, bn=True):
    layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, bias=False)]
    if bn:
        layers += [nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers)


class DeepLabV3PlusTorch(nn.Module):
    """MLPerf HPC DeepCAM DeepLabv3+ (modified aligned Xception, os 16), deepcam.md §5.

    ``middle_blocks`` (16 in the reference) shrinks the middle flow for reduced CPU runs.
    The image-level ASPP branch is broadcast to the feature-map size instead of the
    reference's hard-coded 48x72 tile, so smaller inputs work (same as the Keras port).
    """

    def __init__(self, in_channels: int = 16, num_classes: int = 3, middle_blocks: int = 16):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(32, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.block1 = _XBlock(64, 128, 2, stride=2, end_with_relu=False)
        self.block2 = _XBlock(128, 256, 2, stride=2, end_with_relu=True)
        self.block3 = _XBlock(256, 728, 2, stride=2, end_with_relu=True, is_last=True)
        self.middle = nn.Sequential(*[_XBlock(728, 728, 3, 1, 1, end_with_relu=True) for _ in range(middle_blocks)])
        self.block20 = _XBlock(728, 1024, 2, 1, 1, end_with_relu=False, grow_first=False, is_last=True)
        self.exit = nn.Sequential(
            _SepConv(1024, 1536, 3, 1, 2), nn.BatchNorm2d(1536), nn.ReLU(),
            _SepConv(1536, 1536, 3, 1, 2), nn.BatchNorm2d(1536), nn.ReLU(),
            _SepConv(1536, 2048, 3, 1, 2), nn.BatchNorm2d(2048), nn.ReLU())
        self.aspp = nn.ModuleList([_cbr(2048, 256, 1)] + [_cbr(2048, 256, 3, d) for d in (6, 12, 18)])
        self.image_conv = nn.Conv2d(2048, 256, 1, bias=False)
        self.affine_w = nn.Parameter(torch.ones(256))   # TrainableAffine (replaces BN)
        self.affine_b = nn.Parameter(torch.zeros(256))
        self.merge = _cbr(1280, 256, 1)
        self.low_proj = _cbr(128, 48, 1)
        self.deconv1 = nn.Sequential(_deconv(256, 256), _deconv(256, 256))
        self.dec_conv = nn.Sequential(_cbr(304, 256, 3), _cbr(256, 256, 3), nn.Conv2d(256, 256, 1, bias=True))
        self.deconv2 = _deconv(256, 256)
        self.last_deconv = _deconv(256, num_classes, bn=False)

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        x = F.relu(self.block1(x))
        low = x
        x = self.block20(self.middle(self.block3(self.block2(x))))
        x = self.exit(x)
        branches = [m(x) for m in self.aspp]
        img = self.image_conv(F.adaptive_avg_pool2d(x, 1))
        img = F.relu(img * self.affine_w.view(1, -1, 1, 1) + self.affine_b.view(1, -1, 1, 1))
        branches.append(img.expand(-1, -1, x.shape[2], x.shape[3]))
        x = self.merge(torch.cat(branches, dim=1))
        x = self.deconv1(x)
        x = self.dec_conv(torch.cat([x, self.low_proj(low)], dim=1))
        return self.last_deconv(self.deconv2(x))


def deeplabv3plus_torch(in_channels: int = 16, num_classes: int = 3, middle_blocks: int = 16) -> nn.Module:
    return DeepLabV3PlusTorch(in_channels=in_channels, num_classes=num_classes, middle_blocks=middle_blocks)


# ------------------------------------------------------------ flare ResNet34
class _BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + idt)


class FlareResNet34Torch(nn.Module):
    """Custom_ResNet34 of the flare paper (flare.md §2.4): 1->3 added conv, ResNet34, Linear 512->2 logits."""

    def __init__(self, num_classes: int = 2, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.first_conv = nn.Conv2d(1, 3, 3, 1, 1, bias=True)
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for i, (n, w) in enumerate(zip(blocks, (64, 128, 256, 512))):
            for j in range(n):
                layers.append(_BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.stem(F.relu(self.first_conv(x)))
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def flare_resnet34_torch(num_classes: int = 2) -> nn.Module:
    return FlareResNet34Torch(num_classes=num_classes)


BUILDERS = {
    "slic": slic_torch,
    "cirrus_unet": cirrus_unet_torch,
    "deeplabv3plus": deeplabv3plus_torch,
    "flare_resnet34": flare_resnet34_torch,
}
