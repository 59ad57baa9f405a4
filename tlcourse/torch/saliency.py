"""Where the network looks, in PyTorch (same names as ``tlcourse.tf.saliency``).

- ``last_conv_block``: the module whose output Grad-CAM weighs (MobileNetV2 and
  EfficientNet-Lite0: the last block of ``features``; VGG-16: the last
  convolution's ReLU, before the fifth pooling; ResNet-50: ``layer4``);
- ``input_saliency``: |d score / d pixel|, the largest over the colour channels;
- ``grad_cam``: Grad-CAM on that block, taken with a forward hook.

The score is the target's logit (several targets: the logsumexp of their
logits).  Maps come back as numpy, one per image, unscaled, so that maps of
one figure can share a scale (``tlcourse.saliency`` draws them).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tlcourse.contract import PUBLIC_API
from tlcourse.torch.adversarial import as_pixels, logit_score
from tlcourse.torch.models import normalize, parameters_device
from tlcourse.messages import _

__all__ = PUBLIC_API["saliency"]

_POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def last_conv_block(model: nn.Module) -> nn.Module:
    """The base's last convolutional block: the last module of ``model.features``
    that is not a pooling (a base from ``pretrained(..., include_top=False)``
    too), or ResNet's ``layer4``."""
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential):
        return [m for m in features if not isinstance(m, _POOLING)][-1]
    if isinstance(getattr(model, "layer4", None), nn.Module):
        return model.layer4
    raise ValueError(_("no convolutional base found in {model} (neither .features nor .layer4): "
                       "pass the module to use as grad_cam(..., layer=module)",
                       model=type(model).__name__))


def _class_score(logits: torch.Tensor, target) -> torch.Tensor:
    """The target's logit (several: the logsumexp of theirs), summed over the batch."""
    return logit_score(logits, target).sum()


def _pixels_with_grad(model: nn.Module, pixels) -> torch.Tensor:
    return as_pixels(pixels).detach().to(parameters_device(model)).clone().requires_grad_(True)


def input_saliency(model: nn.Module, preprocess, pixels, target) -> np.ndarray:
    """|d score / d pixel| for [0, 1] pixels (NCHW tensor or (N,)H,W,3 numpy),
    the largest over the colour channels: (N, H, W) numpy."""
    with torch.enable_grad():
        x = _pixels_with_grad(model, pixels)
        score = _class_score(model(normalize(preprocess, x)), target)
        grad, = torch.autograd.grad(score, x)
    return grad.abs().amax(dim=1).cpu().numpy()


def grad_cam(model: nn.Module, preprocess, pixels, target, layer: nn.Module | None = None) -> np.ndarray:
    """Grad-CAM of ``target`` on ``layer`` (default ``last_conv_block(model)``):
    (N, h, w) numpy at the block's resolution, zero or positive."""
    layer = layer or last_conv_block(model)
    kept = {}
    hook = layer.register_forward_hook(lambda _module, _inputs, out: kept.__setitem__("acts", out))
    try:
        with torch.enable_grad():
            x = _pixels_with_grad(model, pixels)   # so the block's output is part of the graph
            score = _class_score(model(normalize(preprocess, x)), target)
            acts = kept["acts"]
            grads, = torch.autograd.grad(score, acts)
    finally:
        hook.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)    # one weight per channel
    return torch.relu((weights * acts).sum(dim=1)).detach().cpu().numpy()
