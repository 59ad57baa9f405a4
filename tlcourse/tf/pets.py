"""The Oxford-IIIT Pet lab, Keras side (same names as ``tlcourse.torch.pets``).

    unfreeze_top(base, 2)      # fine-tuning: top blocks trainable

The core checks and figures are in ``tlcourse.pets``.
"""
from __future__ import annotations

import numpy as np

from tlcourse.contract import SUBMODULES
from tlcourse.tf.train import top_layers
from tlcourse.exercises import reference_answer

__all__ = list(SUBMODULES["pets"])   # the contract declares them for both adapters


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
