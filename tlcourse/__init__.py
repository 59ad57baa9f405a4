"""Shared helpers for the transfer-learning course.

The core (this package minus ``tlcourse.torch`` and ``tlcourse.tf``) imports
neither PyTorch nor TensorFlow, so it loads fast and the two framework adapters
can share it.  Notebooks do::

    import tlcourse
    from tlcourse import torch as tlc      # or: from tlcourse import tf as tlc
"""
from tlcourse.profiles import Profile, get_profile, profile_name

__version__ = "0.1.0"
__all__ = ["Profile", "get_profile", "profile_name", "__version__"]
