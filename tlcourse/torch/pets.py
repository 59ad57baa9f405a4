"""The Oxford-IIIT Pet lab, PyTorch side (same names as ``tlcourse.tf.pets``).

    unfreeze_top(base, 2)      # fine-tuning: top blocks trainable

The core checks and figures are in ``tlcourse.pets``.
"""
from __future__ import annotations

from torch import nn

from tlcourse.contract import SUBMODULES
from tlcourse.torch.train import top_layers
from tlcourse.exercises import reference_answer

__all__ = list(SUBMODULES["pets"])   # the contract declares them for both adapters


@reference_answer
def unfreeze_top(base: nn.Module, n_blocks: int) -> list:
    """Make the top ``n_blocks`` blocks of ``base`` trainable (the rest stays frozen);
    returns their modules.  BatchNorm in the base still uses its running statistics
    (``fit`` keeps the ``base`` in inference mode)."""
    for p in base.parameters():
        p.requires_grad_(False)
    mods = top_layers(base, n_blocks)
    for m in mods:
        for p in m.parameters():
            p.requires_grad_(True)
    return mods


def weights_snapshot(model) -> list:
    """Copies of every weight of ``model``, BatchNorm statistics included (to check
    that training left a frozen part unchanged)."""
    return [v.detach().cpu().numpy().copy() for v in model.state_dict().values()]
