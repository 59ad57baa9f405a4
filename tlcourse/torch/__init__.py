"""PyTorch adapter: the names ``tlcourse.contract.PUBLIC_API`` declares, the
same as ``tlcourse.tf``'s, each defined in the module of this package the
contract names (``models``, ``data``, ``train``, ``adversarial``; ``pets``).

    from tlcourse import torch as tlc
"""
import sys as _sys

# Importing TensorFlow and then torchvision in one process segfaults while
# triton is installed; say so clearly instead of crashing the kernel.
if "tensorflow" in _sys.modules and "torchvision" not in _sys.modules:
    raise ImportError("TensorFlow is already imported in this process; importing torchvision "
                      "now would crash it. Use one framework per notebook (restart the kernel), "
                      "or import tlcourse.torch before TensorFlow.")

# OMP_WAIT_POLICY=PASSIVE is set by `import tlcourse` (tlcourse/__init__.py),
# which Python runs before this module.

from tlcourse import cache as _cache, contract as _contract  # noqa: E402

_cache.export_framework_homes()   # torchvision looks for weights in our cache

__all__ = _contract.export(globals(), "torch")
