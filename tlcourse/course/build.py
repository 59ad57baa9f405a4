"""`tlcourse build`: regenerate release/ (student) and notebooks/ (solution) from source/.

nbgrader does the work in a throw-away copy of the course, so the build never
touches a real gradebook.db or anything a student or instructor owns.  Its
output is then normalised (no outputs, no execution counts, stable JSON) so a
rebuild of an unchanged source changes nothing in git, and ``--check`` can
compare byte for byte.
"""
from __future__ import annotations

import fcntl
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

GENERATED = ("release", "notebooks")


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


def assignments(root: Path) -> list[str]:
    src = root / "source"
    return sorted(p.name for p in src.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")) and any(p.glob("*.ipynb")))


def nbgrader_env() -> dict:
    """nbgrader shells out to `alembic`: the venv's bin/ must be on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run_nbgrader(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=nbgrader_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc


def normalise_notebook(path: Path) -> None:
    """Stable form: no outputs or execution counts, fixed JSON layout.

    Cell ids come from source/ and are kept: the translation catalogs key on them.
    """
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    text = nbformat.writes(nb, version=4)
    path.write_text(text if text.endswith("\n") else text + "\n")


def generate(root: Path, out: Path) -> None:
    """Generate release/ and notebooks/ for every assignment into ``out``."""
    work = Path(tempfile.mkdtemp(prefix="tlcourse-build-"))
    try:
        shutil.copytree(root / "source", work / "source")
        shutil.copy(root / "nbgrader_config.py", work / "nbgrader_config.py")
        for name in assignments(root):
            common = [f"--CourseDirectory.root={work}", "--force", "--log-level=WARN"]
            run_nbgrader(["generate_assignment", name, *common], cwd=work)
            run_nbgrader(["generate_solution", name, *common], cwd=work)
        for sub in GENERATED:
            target = out / sub
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(work / sub, target)
            for nb in target.rglob("*.ipynb"):
                normalise_notebook(nb)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def differences(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two trees (missing on either side too)."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()} if a.exists() else set()
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()} if b.exists() else set()
    out = []
    for rel in sorted(files_a | files_b):
        if rel not in files_a or rel not in files_b or not filecmp.cmp(a / rel, b / rel, shallow=False):
            out.append(str(rel))
    return out


def build(root: Path | None = None, check: bool = False) -> int:
    root = root or repo_root()
    # one build at a time per checkout: two would race on release/ and notebooks/
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(root, check)


def _build(root: Path, check: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="tlcourse-gen-") as tmp:
        fresh = Path(tmp)
        generate(root, fresh)
        stale = [f"{sub}/{rel}" for sub in GENERATED
                 for rel in differences(fresh / sub, root / sub)]
        if check:
            if stale:
                print("Out of sync with source/ (run `tlcourse build`, never edit these by hand):")
                for rel in stale:
                    print(f"  {rel}")
                return 1
            print(f"release/ and notebooks/ are in sync with source/ ({len(assignments(root))} "
                  "assignments).")
            return 0
        for sub in GENERATED:
            # These two folders are generated output, owned by the build.
            if (root / sub).exists():
                shutil.rmtree(root / sub)
            shutil.copytree(fresh / sub, root / sub)
        print(f"Built {len(assignments(root))} assignments; {len(stale)} files changed.")
        for rel in stale:
            print(f"  {rel}")
        return 0
