"""Where the course is: the repository root, and the English course behind an edition.

Its own module so that ``build`` and ``i18n`` (which import each other's work)
both find the root without importing each other.
"""
from __future__ import annotations

from pathlib import Path

EDITIONS = "editions"          # editions/<lang>/ : one nbgrader course root per edition


def repo_root() -> Path:
    """The course root: the folder with nbgrader_config.py (the repo root)."""
    here = Path.cwd()
    for d in (here, *here.parents):
        if (d / "nbgrader_config.py").is_file() and (d / "source").is_dir():
            return d
    pkg_root = Path(__file__).resolve().parents[2]
    if (pkg_root / "nbgrader_config.py").is_file():
        return pkg_root
    raise SystemExit("Run this inside the course repository (no nbgrader_config.py found above "
                     f"{here}).")


def main_root(root: Path) -> Path:
    """The English course for a course root that may be an edition (editions/<lang>/)."""
    if root.parent.name == EDITIONS and (root.parent.parent / "nbgrader_config.py").is_file():
        return root.parent.parent
    return root
