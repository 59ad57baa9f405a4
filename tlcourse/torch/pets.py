"""The Oxford-IIIT Pet lab, PyTorch side (same names as ``tlcourse.tf.pets``).

    model = try_load_model(MODEL_FILE, num_classes=37)   # None when absent or unusable
    unfreeze_top(base, 2)                                  # fine-tuning: top blocks trainable

The core checks and figures are in ``tlcourse.pets``.
"""
from __future__ import annotations



from torch import nn

from tlcourse import pets as core
from tlcourse.contract import SUBMODULES
from tlcourse.torch.train import load_model, top_layers
from tlcourse.exercises import reference_answer

__all__ = list(SUBMODULES["pets"])   # the contract declares them for both adapters

MODEL_FILE = f"{core.MODEL_STEM}.pt"


def num_outputs(model: nn.Module) -> int | None:
    """The number of classes the model's last linear layer outputs (None if there is none)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def try_load_model(path, num_classes: int, log=print):
    """The model saved at ``path``, or None (saying why) when there is no file, it
    is not a model ``save_model`` wrote, or it has the wrong number of classes.

    Only tensors are read (``weights_only=True``): a handed-in file cannot run
    code.  Nothing in the file is trusted beyond its weights: the graded test
    measures the model's accuracy on the test split itself."""
    return core.load_saved_model(path, num_classes, load_model, num_outputs, log=log)


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
