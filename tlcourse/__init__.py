"""Shared helpers for the transfer-learning course.

The core (the modules directly in this package) imports neither PyTorch nor
TensorFlow, so it loads fast and the two framework adapters, ``tlcourse.torch``
and ``tlcourse.tf``, can share it; ``tlcourse.ports`` holds the model ports,
and the tooling (``cli``, ``bench``, ``course``) sits on top (docs/architecture.md).
Notebooks do::

    import tlcourse
    from tlcourse import torch as tlc      # or: from tlcourse import tf as tlc
"""
import os as _os

# OpenMP threads that busy-wait make PyTorch 5-8x slower on a CPU that other
# processes share (measured here on 2 loaded cores); sleeping costs nothing when
# the CPU is free.  Only effective before torch is first imported, which is why
# it is here: notebooks import tlcourse before torch.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from tlcourse.profiles import Profile, get_profile, profile_name

__version__ = "0.1.0"
__all__ = ["Profile", "get_profile", "profile_name", "__version__"]
