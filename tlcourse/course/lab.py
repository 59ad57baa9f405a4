"""JupyterLab on the course: what `make lab` starts, and what the browser tests drive.

    tlcourse lab [--edition hi] [--role student|instructor] [-- extra jupyter-lab options]
    tlcourse lab [--edition hi] --fresh <assignment>/<Notebook>

Both views first give the student their own copies of the release notebooks in
``my-work/<assignment>/`` (git-ignored; the layout ``nbgrader fetch_assignment``
gives on a hub), copying only what is missing and never overwriting a copy that
exists, and a copy of the landing notebook, ``my-work/START_HERE.ipynb``, whose
links lead to those copies.  The page a browser opens is always that copy: a
notebook with a kernelspec starts a kernel, and JupyterLab's autosave then writes
the kernel's language details into the file, which must not be the tracked
``START_HERE.ipynb`` (``tlcourse build --check`` would fail).

* **student** (the default, ``make lab``): JupyterLab's root is ``my-work/``: the
  file browser shows the student's copies and the landing page, nothing of
  ``source/`` (solutions, hidden tests) or ``notebooks/``.  Of nbgrader's
  extensions only Validate is on (answered, in every view and on the hub, by the
  course's summarising handler, ``tlcourse.course.validate``): the Formgrader, Create Assignment, the
  Assignment and Course Lists and the Nbgrader menu are off, with public
  configuration only: nbgrader's documented switches (``jupyter labextension
  disable @jupyter/nbgrader:<plugin>``, ``jupyter server extension disable
  nbgrader.server_extensions.<ext>``) given for this server alone, as a
  ``labconfig/page_config.json`` in a private, temporary directory on
  ``JUPYTER_CONFIG_PATH`` and ``--ServerApp.jpserver_extensions`` traits; nothing
  of the user's or the environment's Jupyter configuration is changed.  (The
  Assignment List belongs to a hub, where the exchange brings the assignments:
  deploy/jupyterhub; here ``make lab`` makes the copies.)
* **instructor** (``make lab ROLE=instructor``): the whole course tree as the root,
  every nbgrader extension as installed (Formgrader, Create Assignment, ...).

The server's working directory is the course root either way: nbgrader's
Validate reads the course's ``nbgrader_config.py`` there.  The second form is
"start over": a fresh copy of one notebook beside the student's own
(``<Notebook>-fresh.ipynb``, then ``-fresh-2``...).  ``--edition hi`` does the same
in the Hindi edition's course root, ``editions/hi/`` (its own release/, my-work/
and START_HERE.ipynb, made by `tlcourse build`); ``--fresh`` run from a terminal
inside an edition (JupyterLab's terminals start in its root) picks that edition.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tlcourse.course import validate

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
ROLES = ("student", "instructor")
# nbgrader 0.9's JupyterLab plugins and server extensions the student view turns off
# (its installation guide, "Disabling extensions"); Validate stays.
STUDENT_OFF_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                       "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                       "@jupyter/nbgrader:menu")
STUDENT_OFF_SERVER = ("nbgrader.server_extensions.formgrader",
                      "nbgrader.server_extensions.assignment_list",
                      "nbgrader.server_extensions.course_list")
# Validate that summarises (tlcourse/course/validate.py) in place of nbgrader's, in
# every view and on the hub: the same request, the same run, one report
VALIDATE_SWITCHES = (f"--ServerApp.jpserver_extensions={validate.NBGRADER_VALIDATE}=False",
                     f"--ServerApp.jpserver_extensions={validate.EXTENSION}=True")
# On a hub the exchange brings the assignments: students keep the Assignment List
# (deploy/jupyterhub/etc/labconfig/page_config.json turns the same lab plugins off)
HUB_OFF_SERVER = ("nbgrader.server_extensions.formgrader",
                  "nbgrader.server_extensions.course_list")
HUB_OFF_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list")
# the landing copy's metadata[tlcourse][LANDING_KEY]: the text it was made from (an edited
# copy is kept)
LANDING_KEY = "landing_sha256"


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


def _landing_hash(nb) -> str:
    """What a landing copy says (its cells' text), not what autosave adds (metadata)."""
    return hashlib.sha256(json.dumps([[c.cell_type, c.source] for c in nb.cells]).encode()).hexdigest()


def landing_copy(root: Path = ROOT, page: str = LANDING) -> tuple[Path, str]:
    """``my-work/START_HERE.ipynb`` (or another page of the course root: an edition's
    glossary): the page as the browser opens it, its links relative to ``my-work/``.  Made
    when missing and brought up to date with the course's page on every start, unless the
    student edited its text (then it is kept and a note says so).  (path, what happened:
    "made", "updated", "kept", "edited, kept")."""
    import nbformat

    root = Path(root)
    nb = nbformat.read(root / page, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(rf"\]\({re.escape(WORK)}/", "](", cell.source)
    made_from = _landing_hash(nb)
    nb.metadata["tlcourse"] = {LANDING_KEY: made_from}
    dest = root / WORK / page
    text = nbformat.writes(nb)
    if not dest.exists():
        return dest, "made" if _write_new(dest, text) else "kept"
    try:
        old = nbformat.read(dest, as_version=4)
        recorded = old.metadata.get("tlcourse", {}).get(LANDING_KEY)
        unedited = recorded == _landing_hash(old)
    except Exception:       # not a notebook any more: the student's business
        old, unedited = None, False
    if not unedited:
        return dest, "edited, kept"
    if recorded == made_from:
        return dest, "kept"
    _write_new(dest, text, replace=True)
    return dest, "updated"


def _write_new(dest: Path, text: str, replace: bool = False) -> bool:
    """Write ``text`` to ``dest`` atomically: only if it is missing, or over it (``replace``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if replace:
            os.replace(tmp, dest)
            return True
        try:
            os.link(tmp, dest)          # fails, rather than overwrites, if dest appeared meanwhile
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def prepare(root: Path = ROOT, log=print) -> None:
    """What both views need before the server starts: the student's copies and the landing
    copy in ``my-work/`` (nothing the student wrote is overwritten)."""
    made = student_copies(root)
    if made:
        log(f"your own copies: {len(made)} new file(s) in {WORK}/ (existing ones are kept)")
    from tlcourse.course.i18n import GLOSSARY_PAGE

    for page in (LANDING, GLOSSARY_PAGE):
        if (Path(root) / page).is_file():     # an edition's glossary, linked from its landing page
            path, what = landing_copy(root, page)
            if what == "edited, kept":
                log(f"{WORK}/{page} was edited: kept as it is (the course's page: {page})")


def hub_server_switches() -> list[str]:
    """The ``jupyterhub-singleuser`` options of every user's server on the course's hub."""
    return [*VALIDATE_SWITCHES,
            *(f"--ServerApp.jpserver_extensions={name}=False" for name in HUB_OFF_SERVER)]


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role {role!r}: choose student or instructor")
    return role


def command(root: Path = ROOT, role: str = "student", *, port: int | None = None,
            token: str | None = None, open_browser: bool = True,
            extra: list[str] | tuple = ()) -> list[str]:
    """The ``jupyter lab`` command line for the course at ``root`` in ``role``'s view (run it
    with cwd=root and the environment ``view_env`` gives)."""
    check_role(role)
    student = role == "student"
    args = [sys.executable, "-m", "jupyterlab",
            f"--ServerApp.root_dir={root / WORK if student else root}",
            f"--LabApp.default_url=/lab/tree/{LANDING if student else f'{WORK}/{LANDING}'}"]
    args += VALIDATE_SWITCHES
    if student:
        args += [f"--ServerApp.jpserver_extensions={name}=False" for name in STUDENT_OFF_SERVER]
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


@contextlib.contextmanager
def view_env(role: str = "student", environ=None):
    """The environment variables ``role``'s server needs, for as long as it runs: for a
    student, a private temporary config directory first on ``JUPYTER_CONFIG_PATH`` whose
    ``labconfig/page_config.json`` disables nbgrader's instructor plugins (what
    ``jupyter labextension disable`` would write, for this server only); removed after."""
    check_role(role)
    environ = os.environ if environ is None else environ
    if role != "student":
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="tlcourse-student-view-") as tmp:
        labconfig = Path(tmp) / "labconfig"
        labconfig.mkdir()
        (labconfig / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {name: True for name in STUDENT_OFF_PLUGINS}}, indent=1))
        rest = environ.get("JUPYTER_CONFIG_PATH")
        yield {"JUPYTER_CONFIG_PATH": tmp + (os.pathsep + rest if rest else "")}


def start(root: Path, role: str = "student", extra=()) -> int:
    """Make the student's copies, then run JupyterLab on ``root`` in ``role``'s view until it
    stops (Ctrl+C reaches it directly; SIGTERM and SIGHUP are passed on); its exit status."""
    prepare(root)
    print(f"{role} view: " + (f"{WORK}/ (your copies) and the landing page; Validate in the "
                              "notebook toolbar (instructors: make lab ROLE=instructor)"
                              if role == "student" else
                              "the whole course, Formgrader and Create Assignment "
                              "(students: make lab)"))
    os.chdir(root)
    # the kernels and the nbgrader commands are this environment's
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    with view_env(role) as env:
        proc = subprocess.Popen(command(root, role, extra=extra), env={**os.environ, **env})
        passed = (signal.SIGTERM, signal.SIGHUP)
        old = {s: signal.signal(s, lambda signum, _: proc.send_signal(signum)) for s in passed}
        old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)   # jupyter asks, then stops
        try:
            return proc.wait()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
