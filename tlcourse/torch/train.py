"""Training for PyTorch: the same names and meaning as ``tlcourse.tf.train``.

    base, prep = pretrained("mobilenet_v2", include_top=False)
    model = with_new_head(base, num_classes=2)            # base frozen, new head
    history = fit(model, train_loader, val_loader, epochs=3, lr=1e-3)

Models output logits; the loss is cross-entropy.  ``fit`` calls
``model.train()`` each epoch, then puts every BatchNorm layer whose weights
are all frozen back into inference mode (running statistics used, not
updated), as Keras does for a layer with ``trainable = False``: a frozen layer
stays frozen, statistics included.  Anything more (say, a whole base kept in
inference mode while its top blocks are fine-tuned) is the model's own
business: override its ``train()``, as the transfer_learning notebook shows.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from tlcourse import train as core
from tlcourse.contract import PUBLIC_API
from tlcourse.preprocess import FEATURE_DIMS, Preprocess
from tlcourse.exercises import reference_answer
from tlcourse.messages import _

__all__ = list(PUBLIC_API["train"])

History = core.History
FRAMEWORK = "torch"


def _move_to_device(model: nn.Module) -> torch.device:
    """Move the whole model to the course's ``device()`` and return that device.

    A head a student builds on the CPU and a base ``pretrained`` put on the GPU
    then end up together (a no-op when the model is already there)."""
    from tlcourse.torch.models import device
    dev = device()
    model.to(dev)
    return dev


# --------------------------------------------------------------------------
# freezing and heads
# --------------------------------------------------------------------------
def freeze(model: nn.Module) -> nn.Module:
    """Make every parameter of ``model`` untrainable (``requires_grad=False``); returns it."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _blocks(base: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """The base's blocks in order, as (name, modules): the children of ``features``
    (MobileNetV2, EfficientNet-Lite: one inverted-residual block each; ResNet:
    stem pieces and stages), or for VGG the convolutions between poolings."""
    features = getattr(base, "features", base)
    children = list(features.named_children())
    if any(isinstance(m, nn.MaxPool2d) for _, m in children) and \
            all(isinstance(m, (nn.Conv2d, nn.ReLU, nn.MaxPool2d)) for _, m in children):
        blocks, current = [], []
        for _, m in children:            # VGG: block k ends with its k-th pooling
            current.append(m)
            if isinstance(m, nn.MaxPool2d):
                blocks.append((f"block{len(blocks) + 1}", current))
                current = []
        if current:
            blocks.append((f"block{len(blocks) + 1}", current))
        return blocks
    return [(f"features.{name}", [m]) for name, m in children]


def top_layers(base: nn.Module, n_blocks: int) -> list[nn.Module]:
    """The modules of the top ``n_blocks`` blocks (with weights) of a pretrained base:
    what fine-tuning unfreezes.  MobileNetV2 has 19 blocks, VGG-16 five."""
    blocks = [(name, mods) for name, mods in _blocks(base)
              if any(p.numel() for m in mods for p in m.parameters())]
    if not 0 <= n_blocks <= len(blocks):
        raise ValueError(_("n_blocks must be between 0 and {blocks} for this base",
                           blocks=len(blocks)))
    return [m for _, mods in blocks[len(blocks) - n_blocks:] for m in mods]


@reference_answer
def with_new_head(base: nn.Module, num_classes: int, dropout: float = 0.2,
                  feature_dim: int | None = None) -> nn.Module:
    """``base`` (frozen here) followed by a new head: dropout and one linear layer.

    The result is ``nn.Sequential(base=..., head=...)``; ``fit`` keeps the
    frozen base's BatchNorm layers in inference mode."""
    freeze(base)
    dim = feature_dim or _output_dim(base)
    head = feature_classifier(dim, num_classes, dropout)
    return nn.Sequential(OrderedDict(base=base, head=head))


@reference_answer
def feature_classifier(feature_dim: int, num_classes: int, dropout: float = 0.2) -> nn.Module:
    """The small classifier trained on features: dropout + one linear layer (logits)."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))


def _output_dim(base: nn.Module) -> int:
    name = _base_name(base)
    return FEATURE_DIMS[name]


# total parameters of each pretrained base (include_top=False): identifies a
# base when a model is saved, so load_model can rebuild it (tests check them)
BASE_PARAMS = {"mobilenet_v2": 2_223_872, "efficientnet_lite0": 3_371_008,
               "vgg16": 14_714_688, "resnet50": 23_508_032}


def _base_name(base: nn.Module) -> str:
    total = sum(p.numel() for p in base.parameters())
    for name, n in BASE_PARAMS.items():
        if n == total:
            return name
    raise ValueError(_("this base ({total} parameters) is not one of tlcourse's pretrained bases "
                       "({bases}); pass feature_dim= / rebuild it yourself",
                       total=format(total, ","), bases=", ".join(BASE_PARAMS)))


def adam(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` over the trainable parameters of ``model``, learning rate ``lr``
    (what ``fit(lr=...)`` uses).  The model goes to the course's ``device()`` first:
    an optimizer must be made for the parameters where they will train.  Several
    learning rates: build ``torch.optim.Adam`` with parameter groups yourself."""
    _move_to_device(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(_("the model has no trainable parameters: nothing to optimise"))
    return torch.optim.Adam(params, lr=float(lr))


def compiled_with_current_trainable(model) -> bool:
    """Always True in PyTorch: the optimizer holds the parameters themselves and
    ``requires_grad`` takes effect at once (Keras needs a compile after changes)."""
    return True


# --------------------------------------------------------------------------
# training and evaluation
# --------------------------------------------------------------------------
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _frozen_batchnorm_to_inference_mode(model: nn.Module) -> None:
    """After ``model.train()``: BatchNorm layers with no trainable weight back to ``eval()``."""
    for m in model.modules():
        if isinstance(m, BATCH_NORMS) and \
                not any(p.requires_grad for p in m.parameters()):
            m.eval()


def _loss_and_correct(logits, y):
    loss = nn.functional.cross_entropy(logits, y, reduction="sum")
    return loss, (logits.argmax(1) == y).sum()


def fit(model: nn.Module, train_loader, val_loader=None, epochs: int = 1, lr: float | None = None,
        optimizer=None, steps_per_epoch: int | None = None, name: str | None = None,
        standin: bool | None = None, progress: bool = True) -> core.History:
    """Train with cross-entropy; returns a ``History`` (loss/accuracy per epoch,
    validation when ``val_loader`` is given, seconds per epoch).

    ``optimizer`` (e.g. from ``adam``) or ``lr`` (Adam over the trainable
    parameters).  ``steps_per_epoch`` caps the batches per epoch (grading, tests)."""
    if optimizer is None:
        if lr is None:
            raise ValueError(_("fit needs lr= or optimizer="))
        optimizer = adam(model, lr)
    device = _move_to_device(model)
    if standin is None:   # make_loader and array_loader mark stand-in data
        standin = bool(getattr(train_loader, "standin", False))
    history = core.History(name or type(model).__name__, standin=standin)
    for epoch in range(epochs):
        model.train()
        _frozen_batchnorm_to_inference_mode(model)
        start = time.perf_counter()
        total_loss, correct, seen = 0.0, 0, 0
        n_batches = len(train_loader) if steps_per_epoch is None else \
            min(steps_per_epoch, len(train_loader))
        bar = tqdm(train_loader, total=n_batches, desc=core.epoch_title(epoch, epochs),
                   unit="batch", disable=not progress, leave=False)
        for step, (x, y) in enumerate(bar):
            if step >= n_batches:
                break
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss, right = _loss_and_correct(model(x), y)
            (loss / len(y)).backward()
            optimizer.step()
            total_loss += loss.item()
            correct += int(right)
            seen += len(y)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
        bar.close()
        seconds = time.perf_counter() - start
        val_loss, val_acc = evaluate(model, val_loader) if val_loader is not None else (None, None)
        history.add(total_loss / max(seen, 1), correct / max(seen, 1), val_loss, val_acc, seconds)
        if progress:
            print(core.epoch_line(epoch, epochs, history.epochs[-1]))
    model.eval()
    return history


def evaluate(model: nn.Module, loader) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over ``loader``, in inference mode."""
    device = _move_to_device(model)
    was_training = model.training
    model.eval()
    total, correct, seen = 0.0, 0, 0
    try:
        with torch.inference_mode():
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                loss, right = _loss_and_correct(model(x), y)
                total += loss.item()
                correct += int(right)
                seen += len(y)
    finally:
        model.train(was_training)
    if not seen:
        raise ValueError(_("the loader is empty"))
    return total / seen, correct / seen


def predict(model: nn.Module, loader) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, classes), true labels (N,)) over ``loader``."""
    device = _move_to_device(model)
    model.eval()
    probs, labels = [], []
    with torch.inference_mode():
        for x, y in loader:
            probs.append(torch.softmax(model(x.to(device)).float(), 1).cpu().numpy())
            labels.append(np.asarray(y))
    return np.concatenate(probs), np.concatenate(labels)


def predict_images(model: nn.Module, preprocess: Preprocess, images) -> np.ndarray:
    """Class probabilities (N, classes) for images (paths, PIL images or uint8 arrays),
    prepared like the evaluation pipeline."""
    from tlcourse.torch.models import to_batch

    model.eval()
    with torch.inference_mode():
        logits = model(to_batch(preprocess, images).to(_move_to_device(model)))
    return torch.softmax(logits.float(), 1).cpu().numpy()


class _ArrayLoader:
    """Batches of (float32 tensor, int64 tensor) from two arrays; reshuffled each epoch."""

    def __init__(self, X, y, batch_size, shuffle, seed, standin):
        self.X = torch.as_tensor(np.asarray(X, np.float32))
        self.y = torch.as_tensor(np.asarray(y, np.int64))
        self.batch_size, self.shuffle, self.standin = batch_size, shuffle, standin
        self._gen = torch.Generator().manual_seed(seed)

    def __len__(self):
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        idx = torch.randperm(len(self.y), generator=self._gen) if self.shuffle \
            else torch.arange(len(self.y))
        for s in range(0, len(idx), self.batch_size):
            j = idx[s:s + self.batch_size]
            yield self.X[j], self.y[j]


def array_loader(X, y, batch_size: int = 64, shuffle: bool = False, seed: int = 0,
                 standin: bool = False):
    """Batches of (features, labels) from numpy arrays, for training a classifier on
    features.  ``standin`` marks the History of a fit on it as stand-in data."""
    return _ArrayLoader(X, y, batch_size, shuffle, seed, standin)


# --------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------
def features_key(model_name: str, split, preprocess: Preprocess) -> str:
    """The cache key of a split's features from ``model_name`` at this preprocessing."""
    return core.features_key(FRAMEWORK, model_name, split, preprocess)


@reference_answer
def extract_features(model: nn.Module, loader, cache_key: str | None = None,
                     progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D) float32, labels (N,)) of every batch of ``loader`` through
    ``model`` in inference mode.  With ``cache_key`` they are saved once and reused."""
    def compute():
        device = _move_to_device(model)
        model.eval()
        xs, ys = [], []
        with torch.inference_mode():
            for x, y in tqdm(loader, desc=_("features"), unit="batch", disable=not progress,
                             leave=False):
                xs.append(model(x.to(device)).float().cpu().numpy())
                ys.append(np.asarray(y))
        return np.concatenate(xs), np.concatenate(ys)
    return core.cached_features(cache_key, compute)


def feature_maps(base: nn.Module, preprocess: Preprocess, image, n_layers: int = 4) -> list:
    """[(block name, activations (H, W, C)), ...] of one image at ``n_layers`` blocks
    spread from the bottom to the top of the base."""
    from tlcourse.torch.models import to_batch

    blocks = [(name, mods) for name, mods in _blocks(base)
              if any(p.numel() for m in mods for p in m.parameters())]
    picks = np.unique(np.linspace(0, len(blocks) - 1, n_layers).round().astype(int))
    found, hooks = {}, []
    for i in picks:
        name, mods = blocks[i]
        hooks.append(mods[-1].register_forward_hook(
            lambda _m, _inp, out, name=name: found.__setitem__(name, out[0].detach())))
    try:
        base.eval()
        with torch.inference_mode():
            base(to_batch(preprocess, image).to(_move_to_device(base)))
    finally:
        for h in hooks:
            h.remove()
    return [(blocks[i][0], found[blocks[i][0]].permute(1, 2, 0).cpu().numpy()) for i in picks]


# --------------------------------------------------------------------------
# saving: state_dict + a description to rebuild the architecture
# --------------------------------------------------------------------------
_HEAD_LAYERS = {"Linear": nn.Linear, "Dropout": nn.Dropout, "ReLU": nn.ReLU,
                "BatchNorm1d": nn.BatchNorm1d, "Flatten": nn.Flatten, "Identity": nn.Identity}


def _describe_head(head: nn.Module) -> list:
    layers = list(head) if isinstance(head, nn.Sequential) else [head]
    out = []
    for m in layers:
        kind = type(m).__name__
        if kind == "Linear":
            out.append([kind, {"in_features": m.in_features, "out_features": m.out_features,
                               "bias": m.bias is not None}])
        elif kind == "Dropout":
            out.append([kind, {"p": m.p}])
        elif kind == "BatchNorm1d":
            out.append([kind, {"num_features": m.num_features}])
        elif kind in _HEAD_LAYERS:
            out.append([kind, {}])
        else:
            raise ValueError(_("save_model rebuilds heads made of {layers}; this head has a "
                               "{kind}. Save model.state_dict() with torch.save and rebuild the "
                               "model in code instead.", layers=", ".join(_HEAD_LAYERS),
                               kind=kind))
    return out


def save_model(model: nn.Module, path) -> Path:
    """Save a ``base`` + ``head`` model (``with_new_head`` or the same layout) as a
    ``.pt`` file: the state_dict and a plain description of the architecture,
    so ``load_model`` can rebuild it and load with ``weights_only=True``."""
    path = Path(path)
    if path.suffix != ".pt":
        raise ValueError(_("{path}: use a .pt file name", path=path))
    if not (isinstance(getattr(model, "base", None), nn.Module) and
            isinstance(getattr(model, "head", None), nn.Module)):
        raise ValueError(_("save_model expects nn.Sequential(base=..., head=...) as "
                           "with_new_head builds it"))
    arch = {"format": "tlcourse-torch-1", "base": _base_name(model.base),
            "head": _describe_head(model.head)}
    from tlcourse.cache import atomic_path
    with atomic_path(path) as tmp:
        torch.save({"arch": arch, "state_dict": model.state_dict()}, tmp)
    return path


def load_model(path) -> nn.Module:
    """The model ``save_model`` wrote, rebuilt and loaded (``weights_only=True``), in eval mode.

    The base's architecture comes from torchvision/tlcourse (its ImageNet
    weights are fetched as for ``pretrained`` and then overwritten)."""
    from tlcourse.torch.models import pretrained

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(_("{path}: no saved model there", path=path))
    saved = torch.load(path, map_location="cpu", weights_only=True)
    arch = saved.get("arch", {})
    if arch.get("format") != "tlcourse-torch-1":
        raise ValueError(_("{path} was not written by tlcourse's save_model", path=path))
    base, _preprocess = pretrained(arch["base"], include_top=False)
    head = nn.Sequential(*[_HEAD_LAYERS[kind](**kw) for kind, kw in arch["head"]])
    model = nn.Sequential(OrderedDict(base=base, head=head))
    model.load_state_dict(saved["state_dict"])
    # trainability is not part of the file: loaded models are for prediction
    _move_to_device(model)   # onto the course's device, as pretrained() puts the base
    return model.eval()
