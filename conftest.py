"""Test-suite setup.

* Torch is imported before anything can import TensorFlow: the other order
  segfaults in one process while triton is installed (see README).
* Weights and data go to a cache inside the repo (git-ignored), so a test run
  never touches a user's own cache; the smoke profile is the default.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("TLCOURSE_CACHE", str(ROOT / ".cache" / "tlcourse"))
os.environ.setdefault("TLCOURSE_PROFILE", "smoke")
# Busy-waiting OpenMP threads make torch ~5x slower on a shared 2-core CPU; the
# setting works only before torch's first import (and kernels inherit it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

import torch  # noqa: E402,F401  (must precede tensorflow)
import torchvision  # noqa: E402,F401

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
