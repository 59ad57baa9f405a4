"""The Oxford-IIIT Pet lab, PyTorch side (same names as ``tlcourse.tf.pets``).

    unfreeze_top(base, 2)      # fine-tuning: top blocks trainable

The core checks and figures are in ``tlcourse.pets``.
"""
from __future__ import annotations

from torch import nn

from tlcourse.contract import SUBMODULES
from tlcourse.torch.train import BATCH_NORMS, top_layers
from tlcourse.exercises import reference_answer

__all__ = list(SUBMODULES["pets"])   # the contract declares them for both adapters


@reference_answer
def unfreeze_top(base: nn.Module, n_blocks: int) -> list:
    """Make the top ``n_blocks`` blocks of ``base`` trainable (the rest stays frozen);
    returns their modules.  Their BatchNorm layers stay frozen, so ``fit`` keeps them
    in inference mode with ImageNet's statistics: the same as ``tlcourse.tf.pets``
    (where Keras 3 would update a trainable BatchNorm's statistics under ``fit``)."""
    base.requires_grad_(False)
    mods = top_layers(base, n_blocks)
    for m in mods:
        m.requires_grad_(True)
        for layer in m.modules():
            if isinstance(layer, BATCH_NORMS):
                layer.requires_grad_(False)
    return mods


def weights_snapshot(model) -> list:
    """Copies of every weight of ``model``, BatchNorm statistics included (to check
    that training left a frozen part unchanged)."""
    return [v.detach().cpu().numpy().copy() for v in model.state_dict().values()]
