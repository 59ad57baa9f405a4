"""Convert PyTorch ImageNet weights to our Keras ports, once.

    python -m tlcourse.ports.convert [mobilenet_v2] [efficientnet_lite0] [--all]

With no names it converts the ports whose weights file is missing (see
``default_ports``; that is how the asset registry builds
``mobilenet_v2_keras`` and ``efficientnet_lite0_keras``, see
``tlcourse/catalog.py``); ``--all`` rebuilds every one.  For each port it fetches the torch asset, reads the .pth
with torch, copies every tensor into the Keras network
(``mobilenet_v2.py``: torchvision's MobileNetV2; ``efficientnet_lite.py``),
checks that both networks give the same logits on a test input, and saves
``<KERAS_HOME>/models/<file>.weights.h5`` atomically.

Torch is imported before TensorFlow on purpose: the other order crashes the
process while triton is installed.
"""
from __future__ import annotations

import os
import sys

# ``python -m`` imports the package ``tlcourse.tf`` (and with it TensorFlow)
# before this file runs; start again in a process that imports torch first.
if "tensorflow" in sys.modules and "torchvision" not in sys.modules:
    if __name__ == "__main__":
        os.execv(sys.executable, [sys.executable, "-c",
                                  "import torch, torchvision, runpy; "
                                  "runpy.run_module('tlcourse.ports.convert', run_name='__main__')",
                                  *sys.argv[1:]])
    raise ImportError("tlcourse.ports.convert needs torch imported before TensorFlow: "
                      "import torch and torchvision first, or run `python -m tlcourse.ports.convert`.")

import torch  # noqa: E402,F401  (first: see the module docstring)
import torchvision  # noqa: E402,F401

import numpy as np  # noqa: E402

from tlcourse.ports import keras_builder  # noqa: E402  (imports Keras only when called)

# Largest |logit difference| accepted between torch and the port on the
# self-check input; float32 through ~50 layers differs by ~1e-5 here.
SELF_CHECK_TOL = 1e-3


def torch_to_keras(weight: np.ndarray, kind: str) -> np.ndarray:
    """One torch tensor in Keras layout.

    Conv2D: OIHW -> HWIO.  DepthwiseConv2D: (C, 1, H, W) -> (H, W, C, 1).
    Dense: (out, in) -> (in, out).
    """
    if kind == "Conv2D":
        return weight.transpose(2, 3, 1, 0)
    if kind == "DepthwiseConv2D":
        return weight.transpose(2, 3, 0, 1)
    if kind == "Dense":
        return weight.T
    raise ValueError(kind)


def torch_prefix(layer_name: str) -> str:
    """The torch state-dict prefix of a port's layer name: features_2_conv_1_0 -> features.2.conv.1.0
    (the ports name their layers after the torch module paths)."""
    return layer_name.replace("_", ".")


def set_weights_from_torch(model, state_dict: dict) -> None:
    """Copy a torch state dict (name -> numpy array) into a port built with the same layout.

    Every weight of the Keras model must be set and every torch tensor used
    (apart from BatchNorm's step counter), so a mismatch cannot pass unnoticed.
    """
    used = set()

    def take(key):
        if key not in state_dict:
            raise KeyError(f"torch state dict has no {key!r} (needed by the Keras port)")
        used.add(key)
        return np.asarray(state_dict[key], dtype=np.float32)

    for layer in model.layers:
        kind = type(layer).__name__
        p = torch_prefix(layer.name)
        if kind in ("Conv2D", "DepthwiseConv2D"):
            layer.set_weights([torch_to_keras(take(p + ".weight"), kind)])
        elif kind == "BatchNormalization":
            layer.set_weights([take(p + ".weight"), take(p + ".bias"),
                               take(p + ".running_mean"), take(p + ".running_var")])
        elif kind == "Dense":
            layer.set_weights([torch_to_keras(take(p + ".weight"), kind), take(p + ".bias")])
        elif layer.weights:
            raise TypeError(f"layer {layer.name} ({kind}) has weights the converter does not know")
    unused = {k for k in state_dict if not k.endswith("num_batches_tracked")} - used
    if unused:
        raise KeyError(f"torch tensors not used by the Keras port: {sorted(unused)[:5]} ...")


def load_torch_state_dict(path, rename=None) -> dict:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if rename is not None:
        sd = rename(sd)
    return {k: v.numpy() for k, v in sd.items()}


def _torchvision_mobilenet_v2(path):
    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net


def _torch_efficientnet_lite0(path):
    from tlcourse.ports.torch_efficientnet_lite import efficientnet_lite0
    return efficientnet_lite0(path)


def _rename_lite(sd):
    from tlcourse.ports.torch_efficientnet_lite import rename_lite_keys
    return rename_lite_keys(sd)


# port name -> (torch asset, Keras asset, torch reference network, key renaming)
PORTS = {
    "mobilenet_v2": ("mobilenet_v2_torch", "mobilenet_v2_keras", _torchvision_mobilenet_v2, None),
    "efficientnet_lite0": ("efficientnet_lite0_torch", "efficientnet_lite0_keras",
                           _torch_efficientnet_lite0, _rename_lite),
}


def self_check(keras_model, torch_model, size: int = 224) -> float:
    """Max |logit difference| between the torch network and the port on a fixed
    random input (odd sizes would work too: both pad the same way)."""
    torch_model.eval()
    x = np.random.default_rng(0).standard_normal((2, size, size, 3)).astype(np.float32)
    with torch.no_grad():
        want = torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(keras_model(x, training=False))
    return float(np.abs(want - got).max())


def save_weights_atomically(model, dest) -> None:
    """``model.save_weights`` insists on a name ending in .weights.h5, so write
    such a file beside the atomic temporary and move it into place."""
    from tlcourse.cache import atomic_path

    with atomic_path(dest) as tmp:
        staged = tmp.with_name(tmp.name + ".weights.h5")
        try:
            model.save_weights(staged)
            os.replace(staged, tmp)
        finally:
            if staged.exists():
                staged.unlink()


def convert(name: str, progress: bool = True):
    """Build the Keras weights file of port ``name``; returns (path, max logit difference)."""
    from tlcourse import assets, cache

    cache.export_framework_homes()
    torch_asset, keras_asset, torch_reference, rename = PORTS[name]
    src = assets.fetch(torch_asset, progress=progress)
    dest = assets.get(keras_asset).path
    state_dict = load_torch_state_dict(src, rename)

    model = keras_builder(name)(include_top=True)   # imports Keras: after torch
    set_weights_from_torch(model, state_dict)
    diff = self_check(model, torch_reference(src))
    if not diff <= SELF_CHECK_TOL:
        raise RuntimeError(f"Keras port of {name} differs from the torch network by {diff:.2e} "
                           f"(> {SELF_CHECK_TOL}) on the self-check input; not saving {dest}")
    save_weights_atomically(model, dest)
    return dest, diff


def default_ports(rebuild: bool = False) -> list[str]:
    """The ports to convert when none is named: all of them with ``rebuild``;
    else those whose Keras file is missing, and of those the ones whose torch
    weights are already cached if there are any (the registry fetches the
    torch file of the asset it builds first, so a build converts just that one)."""
    from tlcourse import assets

    if rebuild:
        return list(PORTS)
    missing = [n for n in PORTS if not assets.get(PORTS[n][1]).path.is_file()]
    ready = [n for n in missing if assets.is_cached(assets.get(PORTS[n][0]))]
    return ready or missing


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tlcourse.ports.convert",
                                description="Convert torch ImageNet weights to the Keras ports.")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"ports to convert ({', '.join(PORTS)}); default: those not yet converted")
    p.add_argument("--all", action="store_true", help="rebuild every port")
    args = p.parse_args(argv)
    unknown = set(args.names) - set(PORTS)
    if unknown:
        p.error(f"no port named {', '.join(sorted(unknown))}; ports: {', '.join(PORTS)}")
    names = args.names or default_ports(rebuild=args.all)
    for name in names:
        dest, diff = convert(name)
        print(f"{name}: wrote {dest} (max |logit difference| vs torch on the self-check: {diff:.2e})")
    if not names:
        print("every Keras port is already converted (use --all to rebuild)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
