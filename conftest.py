"""Test-suite setup.

* Torch is imported before anything can import TensorFlow: the other order
  segfaults in one process while triton is installed (see README).
* Weights and data go to a cache inside the repo (git-ignored), so a test run
  never touches a user's own cache; the smoke profile is the default.
* The long modules (nbgrader round trips, servers, browsers: marked ``grading``,
  ``browser`` or ``slow``) and the nbval notebooks are collected first, each module's
  tests kept in their order: ``make test`` runs the suite on parallel workers
  (pytest-xdist, ``--dist loadscope --no-loadscope-reorder``: one module, or
  one notebook, per worker at a time), and a long module started last would
  leave the other worker idle at the end.
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


LONG_MARKS = ("grading", "browser", "slow")


def _is_long(item) -> bool:
    return item.path.suffix == ".ipynb" or any(item.get_closest_marker(m) for m in LONG_MARKS)


def pytest_collection_modifyitems(session, config, items):
    long_files = {item.path for item in items if _is_long(item)}
    # a stable sort: the order inside a file (nbval's cells, module fixtures) is kept
    items.sort(key=lambda item: (item.path not in long_files, item.path.suffix == ".ipynb"))
