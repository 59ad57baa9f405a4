"""Convert torchvision's MobileNetV2 weights to our Keras port, once.

    python -m tlcourse.tf.convert

The asset registry runs this to build ``mobilenet_v2_keras`` (see
``tlcourse/catalog.py``): it fetches ``mobilenet_v2_torch``, reads the .pth
with torch, copies every tensor into the Keras model of ``mobilenet_v2.py``,
checks that both networks give the same logits on a test input, and saves
``<KERAS_HOME>/models/mobilenet_v2_torchvision_port.weights.h5`` atomically.

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
                                  "runpy.run_module('tlcourse.tf.convert', run_name='__main__')"])
    raise ImportError("tlcourse.tf.convert needs torch imported before TensorFlow: "
                      "import torch and torchvision first, or run `python -m tlcourse.tf.convert`.")

import torch  # noqa: E402,F401  (first: see the module docstring)
import torchvision  # noqa: E402,F401

import numpy as np

# Largest |logit difference| accepted between torch and the port on the
# self-check input; float32 through 53 layers differs by ~1e-5..1e-4 here.
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


def set_weights_from_torch(model, state_dict: dict) -> None:
    """Copy a torchvision MobileNetV2 state dict (name -> numpy array) into ``model``.

    Every weight of the Keras model must be set and every torch tensor used
    (apart from BatchNorm's step counter), so a mismatch cannot pass unnoticed.
    """
    from tlcourse.tf.mobilenet_v2 import torch_prefix

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


def load_torch_state_dict(path) -> dict:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in sd.items()}


def self_check(keras_model, state_dict_path) -> float:
    """Max |logit difference| between torchvision's model and the port on a fixed random input."""
    tv = torchvision.models.mobilenet_v2()
    tv.load_state_dict(torch.load(state_dict_path, map_location="cpu", weights_only=True))
    tv.eval()
    x = np.random.default_rng(0).standard_normal((2, 224, 224, 3)).astype(np.float32)
    with torch.no_grad():
        want = tv(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
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


def convert_mobilenet_v2(progress: bool = True):
    from tlcourse import assets, cache

    cache.export_framework_homes()
    src = assets.fetch("mobilenet_v2_torch", progress=progress)
    dest = assets.get("mobilenet_v2_keras").path
    state_dict = load_torch_state_dict(src)

    from tlcourse.tf.mobilenet_v2 import mobilenet_v2   # imports keras/TensorFlow (after torch)

    model = mobilenet_v2(include_top=True)
    set_weights_from_torch(model, state_dict)
    diff = self_check(model, src)
    if not diff <= SELF_CHECK_TOL:
        raise RuntimeError(f"Keras port differs from torchvision's MobileNetV2 by {diff:.2e} "
                           f"(> {SELF_CHECK_TOL}) on the self-check input; not saving {dest}")
    save_weights_atomically(model, dest)
    return dest, diff


def main() -> int:
    dest, diff = convert_mobilenet_v2()
    print(f"wrote {dest} (max |logit difference| vs torchvision on the self-check: {diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
