"""The Oxford-IIIT Pet lab, Keras side (same names as ``tlcourse.torch.pets``).

    unfreeze_top(base, 2)      # fine-tuning: top blocks trainable

The core checks and figures are in ``tlcourse.pets``.
"""
from __future__ import annotations

import keras
import numpy as np

from tlcourse.contract import SUBMODULES
from tlcourse.tf.train import top_layers
from tlcourse.exercises import reference_answer

__all__ = list(SUBMODULES["pets"])   # the contract declares them for both adapters


@reference_answer
def unfreeze_top(base, n_blocks: int) -> list:
    """Make the top ``n_blocks`` blocks of ``base`` trainable (the rest stays frozen);
    returns their layers.  Compile again (``fit`` with ``lr=`` does) for it to take
    effect.  Their BatchNorm layers stay frozen, so they keep ImageNet's statistics:
    in Keras 3 a trainable BatchNorm updates them under ``fit`` even where the base
    is called with ``training=False`` (keras-team/keras#20285).  The same as
    ``tlcourse.torch.pets``."""
    base.trainable = True          # a frozen parent would override its layers' flags
    layers = [layer for layer in top_layers(base, n_blocks)
              if not isinstance(layer, keras.layers.BatchNormalization)]
    chosen = {id(layer) for layer in layers}
    for layer in base.layers:
        layer.trainable = id(layer) in chosen
    return layers


def weights_snapshot(model) -> list:
    """Copies of every weight of ``model``, BatchNorm statistics included (to check
    that training left a frozen part unchanged)."""
    return [np.array(v) for v in model.weights]
