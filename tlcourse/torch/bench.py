"""The benchmark's plain PyTorch reference: the same network as ``pretrained``,
built with plain torchvision calls (our port for EfficientNet-Lite0) and no
tlcourse helper code, for ``tlcourse bench`` to time against the helper's path.

Tooling only: not part of the adapter's public API (``contract.PUBLIC_API``) nor
of ``tlc.``; the benchmarks reach it with ``contract.adapter("torch", "bench")``.
``tlcourse.tf.bench`` has the same names and signatures.
"""
from __future__ import annotations

import torch
import torchvision


def plain_network(name: str, weights_path=None, image_size: int = 224) -> torch.nn.Module:
    """The ImageNet classifier ``name`` (logits) in eval mode: with ``weights_path``
    (a state dict) loaded, else randomly initialised.  ``image_size`` is for the
    Keras twin (a torch network takes any size)."""
    from tlcourse.ports.torch_efficientnet_lite import efficientnet_lite0

    if name == "efficientnet_lite0":   # torchvision has no Lite0: our port itself
        return efficientnet_lite0(weights_path).eval()
    net = getattr(torchvision.models, name)(weights=None)
    if weights_path is not None:
        net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    return net.eval()


def plain_forward(net, x):
    """One inference forward, waited for (on the CPU the result is ready when it returns)."""
    with torch.inference_mode():
        return net(x)


def traced_forward(net):
    """A compiled twin of ``plain_forward`` to report beside it, or None: eager
    PyTorch is what the course runs, so none is compared here."""
    return None


def threads():
    """The intra-op threads PyTorch computes with."""
    return torch.get_num_threads()
