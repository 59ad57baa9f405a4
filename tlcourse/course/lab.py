"""JupyterLab on the course: what `make lab` starts, and what the browser tests drive.

    tlcourse lab [--edition hi] [-- extra jupyter-lab options]
    tlcourse lab [--edition hi] --fresh <assignment>/<Notebook>

The first form gives the student their own copies of the release notebooks in
``my-work/<assignment>/`` (git-ignored; the layout ``nbgrader fetch_assignment``
gives on a hub), copying only what is missing and never overwriting a copy that
exists, then starts JupyterLab from this environment with the course directory
as its root (and as its working directory, where nbgrader's extensions read
``nbgrader_config.py``), opening on the landing notebook ``START_HERE.ipynb``,
which links those copies.  The second form is "start over": a fresh copy of one
notebook beside the student's own (``<Notebook>-fresh.ipynb``, then ``-fresh-2``...).
``--edition hi`` does the same in the Hindi edition's course root, ``editions/hi/`` (its own
release/, my-work/ and START_HERE.ipynb, made by `tlcourse build`); ``--fresh`` run from a
terminal inside an edition (JupyterLab's terminals start in its root) picks that edition.
nbgrader 0.9 enables its server and lab extensions (Validate button, Nbgrader
menu, Formgrader) when it is installed; nothing else is configured.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The kernel `make setup` registers inside the venv; every notebook names it.
COURSE_KERNEL = "tlcourse"
COURSE_KERNEL_DISPLAY = "Transfer learning (PyTorch + TF)"
# A markdown-only notebook at the course root: rendered links open the release
# notebooks inside JupyterLab.  Not an assignment (those live in source/) and not
# executed by nbval (pytest collects tests/ and notebooks/ only).
LANDING = "START_HERE.ipynb"
# The student's own copies (git-ignored): release/ stays what `tlcourse build` made.
WORK = "my-work"


def edition_root(lang: str | None, cwd: Path | None = None) -> Path:
    """The course root of edition ``lang`` (None: the one ``cwd`` is in, else English)."""
    from tlcourse.course import i18n
    if lang is None:
        here = (cwd or Path.cwd()).resolve()
        editions = ROOT / i18n.EDITIONS
        inside = here.relative_to(editions).parts[:1] if here.is_relative_to(editions) else ()
        return editions / inside[0] if inside else ROOT
    i18n.check_language(lang)
    root = ROOT / i18n.EDITIONS / lang
    if not (root / LANDING).is_file():
        raise ValueError(f"--edition {lang}: {root} has no {LANDING}; run `tlcourse build` first")
    return root


def _copy_new(src: Path, dest: Path) -> bool:
    """Copy ``src`` to ``dest`` unless ``dest`` exists (then nothing is touched); atomic."""
    if dest.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.link(tmp, dest)          # fails, rather than overwrites, if dest appeared meanwhile
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def student_copies(root: Path = ROOT) -> list[Path]:
    """Copy every file of ``release/<assignment>/`` missing from ``my-work/<assignment>/``;
    the copies made now (a student's existing files are never overwritten)."""
    release = Path(root) / "release"
    made = []
    for src in sorted(release.glob("*/**/*")):
        if src.is_file() and ".ipynb_checkpoints" not in src.parts:
            dest = Path(root) / WORK / src.relative_to(release)
            if _copy_new(src, dest):
                made.append(dest)
    return made


def fresh_copy(name: str, root: Path = ROOT) -> Path:
    """"Start over" for ``<assignment>/<Notebook>``: a fresh copy of the release notebook
    beside the student's own, which stays as it is."""
    rel = name.removesuffix(".ipynb")
    src = Path(root) / "release" / f"{rel}.ipynb"
    if not src.is_file() or ".." in Path(rel).parts:
        known = sorted(p.relative_to(Path(root) / "release").with_suffix("").as_posix()
                       for p in (Path(root) / "release").glob("*/*.ipynb"))
        raise ValueError(f"--fresh {name!r}: no such notebook; choose one of {', '.join(known)}")
    folder = Path(root) / WORK / Path(rel).parent
    for n in range(1, 1000):
        dest = folder / f"{src.stem}-fresh{'' if n == 1 else f'-{n}'}.ipynb"
        if _copy_new(src, dest):
            return dest
    raise ValueError(f"--fresh {name!r}: 999 fresh copies exist already in {folder}")


def command(root: Path = ROOT, *, port: int | None = None, token: str | None = None,
            open_browser: bool = True, extra: list[str] | tuple = ()) -> list[str]:
    """The ``jupyter lab`` command line for the course at ``root`` (run it with cwd=root)."""
    args = [sys.executable, "-m", "jupyterlab",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.default_url=/lab/tree/{LANDING}"]
    if port is not None:
        args += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                 "--ServerApp.port_retries=0"]
    if token is not None:
        args.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        args.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--ServerApp.allow_root=True")   # containers and CI machines run as root
    return args + list(extra)


def start(root: Path, extra=()) -> None:
    """Make the student's copies, then replace this process by JupyterLab on ``root``."""
    made = student_copies(root)
    if made:
        print(f"your own copies: {len(made)} new file(s) in {WORK}/ (existing ones are kept)")
    os.chdir(root)
    # the kernels and the nbgrader commands are this environment's
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    args = command(root, extra=extra)
    os.execv(args[0], args)
