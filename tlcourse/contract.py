"""The adapter contract: which frameworks there are, and how to get one's adapter.

``tlcourse.torch`` and ``tlcourse.tf`` offer the same public names with the same
signatures (as ``from d2l import torch as d2l`` does); tooling that must work
with either (the command line, the benchmarks) picks one here and imports only
that one: importing TensorFlow and then torchvision in one process crashes.
"""
from __future__ import annotations

import importlib

FRAMEWORKS = ("torch", "tf")


def adapter(framework: str):
    """``tlcourse.torch`` or ``tlcourse.tf``, imported on first use."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    return importlib.import_module(f"tlcourse.{framework}")
