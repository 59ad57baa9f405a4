"""`tlcourse build`: regenerate release/ (student) and notebooks/ (solution) from source/,
and every translated edition (``editions/<lang>/``, see ``tlcourse.course.i18n``) from
source/ and its catalogs.

nbgrader does the work in a throw-away copy of the course, so the build never
touches a real gradebook.db or anything a student or instructor owns.  Its
output is then normalised (no outputs, no execution counts, stable JSON) so a
rebuild of an unchanged source changes nothing in git, and ``--check`` can
compare byte for byte.  ``--check`` also names every markdown cell whose translation is
missing or stale (notebook and cell id): the edition shows those cells in English.

Both also run the release checks (``tlcourse.course.release_checks``) over every notebook of
every edition as just generated, and refuse the release on any finding (a prompt lost in a
written-answer cell, a knowledge-check answer a student can read, a misplaced or readable
multiple-choice option, a figure or profile number the course does not have): one line per
finding naming the file, the cell and the rule, and exit status 1.  The build still writes
release/, notebooks/ and editions/ (they stay in sync with source/, so the fix is made in
source/ and checked by the next build); only its exit status refuses.
"""
from __future__ import annotations

import fcntl
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from tlcourse.course import i18n, release_checks
from tlcourse.course.paths import main_root, repo_root  # noqa: F401  (callers import them from here)

GENERATED = ("release", "notebooks")


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


def generate(root: Path, out: Path, home: Path | None = None) -> None:
    """Generate release/ and notebooks/ for every assignment into ``out`` (``home``: where
    the course at ``root`` lives, when ``root`` is a fresh copy of an edition)."""
    work = Path(tempfile.mkdtemp(prefix="tlcourse-build-"))
    try:
        shutil.copytree(root / "source", work / "source")
        (work / "nbgrader_config.py").write_text(i18n.portable_config(root, home), encoding="utf-8")
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


def _files(top: Path) -> set[Path]:
    if top.is_file():
        return {Path()}
    return {p.relative_to(top) for p in top.rglob("*") if p.is_file()} if top.exists() else set()


def differences(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two trees or files (missing on either side too)."""
    files_a, files_b = _files(a), _files(b)
    out = []
    for rel in sorted(files_a | files_b):
        if rel not in files_a or rel not in files_b or not filecmp.cmp(a / rel, b / rel, shallow=False):
            out.append(str(rel))
    return out


def build(root: Path | None = None, check: bool = False) -> int:
    root = root or main_root(repo_root())
    # one build at a time per checkout: two would race on release/ and notebooks/
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(root, check)


def generate_edition(root: Path, lang: str, out: Path) -> list[i18n.Problem]:
    """The whole generated part of ``editions/<lang>/`` into ``out``; the translation problems."""
    problems = i18n.write_edition_sources(root, lang, out)
    generate(out, out, home=root / i18n.EDITIONS / lang)
    return problems


def _replace(fresh: Path, target: Path) -> None:
    """Put generated output ``fresh`` (a file or a folder; none: nothing) at ``target``."""
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    if not fresh.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if fresh.is_dir() else shutil.copyfile)(fresh, target)


def _build(root: Path, check: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="tlcourse-gen-") as tmp:
        fresh = Path(tmp)
        editions = {lang: Path(i18n.EDITIONS) / lang for lang in i18n.languages(root)}
        # the English course and every edition side by side: nbgrader's start-up dominates
        with ThreadPoolExecutor(1 + len(editions)) as pool:
            english = pool.submit(generate, root, fresh)
            made = [pool.submit(generate_edition, root, lang, fresh / edition)
                    for lang, edition in editions.items()]
            english.result()
            problems = [problem for job in made for problem in job.result()]
        # (generated path relative to the course root) for the English course and every edition
        outputs = list(GENERATED) + [str(edition / name) for edition in editions.values()
                                     for name in i18n.GENERATED]
        stale = [str(Path(out) / rel) if rel != "." else out for out in outputs
                 for rel in differences(fresh / out, root / out)]
        translations = (f"editions: {', '.join(i18n.languages(root)) or 'none'}; "
                        f"{len(problems)} markdown cell(s) untranslated or stale")
        # what the release would show: the notebooks just generated, every edition
        findings = release_checks.check_course(root, generated=fresh)
        if check:
            if stale:
                print("Out of sync with source/ (run `tlcourse build`, never edit these by hand):")
                for rel in stale:
                    print(f"  {rel}")
            if problems:
                print("Translations to write (the edition shows these cells in English; "
                      "`tlcourse i18n todo` prints their text):")
                for problem in problems:
                    print(f"  {problem}")
            _report(findings)
            if stale or problems or findings:
                return 1
            print(f"release/, notebooks/ and {i18n.EDITIONS}/ are in sync with source/ "
                  f"({len(assignments(root))} assignments); {translations}; release checks "
                  f"passed.")
            return 0
        for out in outputs:
            # generated output, owned by the build (an edition's gradebook or my-work/ is not)
            _replace(fresh / out, root / out)
        print(f"Built {len(assignments(root))} assignments; {len(stale)} files changed; "
              f"{translations}.")
        for rel in stale:
            print(f"  {rel}")
        for problem in problems:
            print(f"  {problem}")
        _report(findings)
        return 1 if findings else 0


def _report(findings: list[release_checks.Finding]) -> None:
    """The release checks' findings, one a line; nothing when there are none."""
    if not findings:
        return
    print(f"Release refused: {len(findings)} finding(s) of the release checks "
          f"(tlcourse/course/release_checks.py; fix them in source/, the catalogs or the package):")
    for finding in findings:
        print(finding)
