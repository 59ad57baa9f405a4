"""The Oxford-IIIT Pet lab, Keras side (same names as ``tlcourse.torch.pets``).

    model = try_load_model(MODEL_FILE, num_classes=37)   # None when absent or unusable
    unfreeze_top(base, 2)                                  # fine-tuning: top blocks trainable

The core checks and figures are in ``tlcourse.pets``.
"""
from __future__ import annotations


import numpy as np

from tlcourse import pets as core
from tlcourse.contract import SUBMODULES
from tlcourse.tf.train import load_model, top_layers
from tlcourse.exercises import reference_answer

__all__ = list(SUBMODULES["pets"])   # the contract declares them for both adapters

MODEL_FILE = f"{core.MODEL_STEM}.keras"


def num_outputs(model) -> int | None:
    """The number of classes the model outputs (None if it has no single 2-D output)."""
    shape = getattr(model, "output_shape", None)
    return shape[-1] if isinstance(shape, tuple) and len(shape) == 2 else None


def try_load_model(path, num_classes: int, log=print):
    """The model saved at ``path``, or None (saying why) when there is no file, it
    is not a Keras model file, or it has the wrong number of classes.

    Keras loads in safe mode (no Python lambdas from the file).  Nothing in the
    file is trusted beyond its weights: the graded test measures the model's
    accuracy on the test split itself."""
    return core.load_saved_model(path, num_classes, load_model, num_outputs, log=log)


@reference_answer
def unfreeze_top(base, n_blocks: int) -> list:
    """Make the top ``n_blocks`` blocks of ``base`` trainable (the rest stays frozen);
    returns their layers.  Compile again (``fit`` with ``lr=`` does) for it to take
    effect; BatchNorm stays in inference mode where the base is called with
    ``training=False``."""
    base.trainable = True          # a frozen parent would override its layers' flags
    layers = top_layers(base, n_blocks)
    chosen = {id(layer) for layer in layers}
    for layer in base.layers:
        layer.trainable = id(layer) in chosen
    return layers


def weights_snapshot(model) -> list:
    """Copies of every weight of ``model``, BatchNorm statistics included (to check
    that training left a frozen part unchanged)."""
    return [np.array(v) for v in model.weights]
