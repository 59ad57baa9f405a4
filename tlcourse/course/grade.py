"""Grading with nbgrader, through its Python API and gradebook (never ``validate``,
which exits 0 even when tests fail).

Used by ``tlcourse grade`` and by the round-trip tests: the solution must get
full marks, the untouched student version zero on every autograded cell.

``grade_class`` is the instructor's whole run over ``submitted/<student>/<assignment>/``:

* a notebook handed in under another name (nbgrader grades by file name and
  would skip it) is recognised by its nbgrader cell ids and renamed to the
  expected name, and the table says so;
* each student is autograded in a separate nbgrader process: a cell that runs
  past the per-cell limit (``--Execute.timeout``) is interrupted and the rest of
  the notebook still runs; a student whose whole run passes ``student_timeout``
  (e.g. a loop that swallows the interrupt) is killed with every process it
  started, scored from what was recorded, and the next student is graded;
* locked cells a student edited are restored from the gradebook by nbgrader's
  OverwriteCells, and deleted test cells are added back
  (``OverwriteCells.add_missing_cells`` in nbgrader_config.py), then graded;
* a graded cell that ran after the grading machinery changed scores 0, and it and
  cells of code that reaches for the machinery need manual grading
  (``tlcourse.course.tampering``); the table says which and why;
* by default each student's kernel runs in a bubblewrap sandbox
  (``tlcourse.course.sandbox``): no source/, gradebook or other students, the
  shared cache read-only, no network, limited memory and processes; what the
  sandbox stopped is noted in the table.  nbgrader itself stays outside;
* ``workers`` students are graded at once (``tlcourse grade --workers N``), each
  in its own nbgrader process, sandboxed and limited as in a serial run; the
  table comes back in student order with the same scores.  The gradebook is
  ``gradebook.url`` (SQLite in the course, or ``TLCOURSE_GRADEBOOK_URL``); on
  SQLite the workers' writes queue for its lock (``SQLITE_WAIT_S``), so no score
  is lost; PostgreSQL takes them side by side.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tlcourse.course import gradebook, i18n
from tlcourse.course import sandbox as sandbox_mod
from tlcourse.course import tampering
from tlcourse.course.build import nbgrader_env, run_nbgrader
from tlcourse.course.sandbox import Sandbox


@dataclasses.dataclass
class CellScore:
    student: str
    notebook: str
    grade_id: str
    score: float
    max_score: float
    autograded: bool      # False for manually graded (written) answers


def make_course(root: Path, course: Path, assignments: list[str]) -> Path:
    """A scratch course at ``course`` with our source/ and config, assignments generated
    (this records the test cells and points in ``course/gradebook.db``)."""
    course.mkdir(parents=True, exist_ok=True)
    if not (course / "source").exists():
        shutil.copytree(root / "source", course / "source")
    (course / "nbgrader_config.py").write_text(i18n.portable_config(root), encoding="utf-8")
    for name in assignments:
        run_nbgrader(["generate_assignment", name, "--force", f"--CourseDirectory.root={course}",
                      "--log-level=WARN"], cwd=course)
    return course


def submit(course: Path, student: str, assignment: str, notebooks: list[Path]) -> Path:
    """Place notebooks as ``submitted/<student>/<assignment>/`` (what `nbgrader collect` makes)."""
    dest = course / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        shutil.copy(nb, dest / Path(nb).name)
    return dest


def autograde(course: Path, assignment: str, student: str | None = None,
              cell_timeout: int | None = None, extra_env: dict | None = None):
    args = ["autograde", assignment, "--force", f"--CourseDirectory.root={course}"]
    if student:
        args.append(f"--student={student}")
    if cell_timeout:
        args.append(f"--Execute.timeout={cell_timeout}")
    env_backup = dict(os.environ)
    try:
        os.environ.update(extra_env or {})
        return run_nbgrader(args, cwd=course, check=False)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)


def scores(course: Path, assignment: str) -> list[CellScore]:
    from nbgrader.api import Gradebook

    out = []
    with Gradebook(gradebook.url(course, SQLITE_WAIT_S)) as gb:
        for sub in gb.assignment_submissions(assignment):
            for nb in sub.notebooks:
                for grade in nb.grades:
                    out.append(CellScore(
                        student=sub.student.id, notebook=nb.name, grade_id=grade.name,
                        score=float(grade.score or 0.0), max_score=float(grade.max_score),
                        autograded=grade.cell.cell_type == "code"))
    return out


def generate_feedback(course: Path, assignment: str):
    return run_nbgrader(["generate_feedback", assignment, "--force",
                         f"--CourseDirectory.root={course}"], cwd=course, check=False)


# --------------------------------------------------------------------------
# a real class: `tlcourse grade`
# --------------------------------------------------------------------------
@dataclasses.dataclass
class StudentResult:
    student: str
    score: float                 # autograded points, over the notebooks handed in
    max_score: float
    failed: list                 # grade ids of autograded test cells that lost points
    seconds: float
    status: str = "ok"           # "ok" | "timed out" | "error" | "nothing handed in"
    notes: list = dataclasses.field(default_factory=list)
    manual_pending: float = 0.0  # points of manually graded answers (written questions)
    notebooks: list = dataclasses.field(default_factory=list)


def prepare_gradebook(course: Path, assignment: str) -> None:
    """Record the assignment's cells and points in ``course/gradebook.db``.

    ``generate_assignment`` writes into a throw-away release folder, so the
    course's committed release/ (owned by `tlcourse build`) is never touched."""
    with tempfile.TemporaryDirectory(prefix="tlcourse-release-") as tmp:
        run_nbgrader(["generate_assignment", assignment, "--force",
                      f"--CourseDirectory.root={course}",
                      f"--CourseDirectory.release_directory={tmp}", "--log-level=WARN"],
                     cwd=course)


def expected_notebooks(course: Path, assignment: str) -> list[str]:
    """The notebook names (without .ipynb) nbgrader grades for ``assignment``."""
    return sorted(p.stem for p in (Path(course) / "source" / assignment).glob("*.ipynb"))


def _fingerprint(path: Path) -> tuple[set, set]:
    """(nbgrader cell ids, cell sources) of a notebook; empty for a file that isn't one."""
    import nbformat
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:   # not a notebook at all: matches nothing
        return set(), set()
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}
    return ids, {c.source.strip() for c in nb.cells if c.source.strip()}


def find_renamed(course: Path, assignment: str, student: str) -> list[tuple[Path, Path]]:
    """(handed-in file, expected file) for each notebook handed in under another
    name: an unexpected ``.ipynb`` that matches one missing expected notebook
    clearly best (its nbgrader cell ids, then the cells it shares verbatim:
    the two framework versions of a lab share ids but not code).  Unclear
    cases are left alone and reported as not graded."""
    course = Path(course)
    folder = course / "submitted" / student / assignment
    expected = expected_notebooks(course, assignment)
    present = {p.stem: p for p in folder.glob("*.ipynb")}
    missing = [name for name in expected if name not in present]
    unexpected = [p for name, p in sorted(present.items()) if name not in expected]
    prints = {name: _fingerprint(course / "source" / assignment / f"{name}.ipynb")
              for name in missing}
    out = []
    for path in unexpected:
        ids, sources = _fingerprint(path)
        ranked = sorted(((len(ids & want_ids) / max(len(want_ids), 1), len(sources & want_src), name)
                         for name, (want_ids, want_src) in prints.items()), reverse=True)
        if not ranked or ranked[0][0] < 0.5:
            continue
        if len(ranked) > 1 and ranked[1][:2] == ranked[0][:2]:
            continue          # two expected notebooks match equally well: don't guess
        name = ranked[0][2]
        out.append((path, folder / f"{name}.ipynb"))
        del prints[name]
    return out


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill nbgrader and everything it started (kernels run in their own session)."""
    import psutil
    try:
        parent = psutil.Process(proc.pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def autograde_student(course: Path, assignment: str, student: str, cell_timeout: int,
                      student_timeout: float, extra_env: dict | None = None,
                      extra_args: list | None = None) -> tuple[str, float, str]:
    """Autograde one student in its own nbgrader process: (status, seconds, log tail)."""
    args = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
            f"--student={student}", f"--CourseDirectory.root={course}",
            f"--Execute.timeout={int(cell_timeout)}", "--Execute.interrupt_on_timeout=True",
            *(extra_args or [])]
    env = nbgrader_env()
    env.update(extra_env or {})
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(args, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                                text=True)
        try:
            rc = proc.wait(timeout=student_timeout)
            status = "ok" if rc == 0 else "error"
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            proc.wait()
            status = "timed out"
        log.seek(0)
        tail = log.read()[-3000:]
    if status == "ok" and ("CellTimeoutError" in tail or "Interrupting kernel" in tail):
        status = "cell timed out"
    return status, time.perf_counter() - start, tail


def student_scores(course: Path, assignment: str, student: str, notebooks: list[str]):
    """(score, max, failed grade ids, manual points pending) over ``notebooks``."""
    chosen = [s for s in scores(course, assignment)
              if s.student == student and s.notebook in notebooks]
    auto = [s for s in chosen if s.autograded]
    failed = [s.grade_id for s in auto if s.score < s.max_score]
    manual = sum(s.max_score for s in chosen if not s.autograded)
    return (sum(s.score for s in auto), sum(s.max_score for s in auto), failed, manual)


def max_points(course: Path, assignment: str, notebook: str) -> float:
    """Autograded points of one notebook, from the gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(gradebook.url(course, SQLITE_WAIT_S)) as gb:
        nb = gb.find_notebook(notebook, assignment)
        return float(sum(c.max_score for c in nb.grade_cells if c.cell_type == "code"))


def grade_class(course: Path, assignment: str, students: list[str] | None = None,
                cell_timeout: int | None = None, student_timeout: float | None = None,
                extra_env: dict | None = None, log=print,
                sandbox: "Sandbox | None" = None, workers: int = 1) -> list[StudentResult]:
    """Autograde every student in ``course/submitted/`` (or ``students``) for
    ``assignment``; nothing one student does stops the others.  With ``sandbox``
    (see ``open_sandbox``) each student's kernel runs inside it.  ``workers``
    students are graded at once, each in its own nbgrader process under the same
    limits; the results come back in student order, as from a serial run.

    Scores count the notebooks a student handed in (for an assignment offered
    in two frameworks, a student hands in the one they chose)."""
    from tlcourse.profiles import PROFILES, grading_profile

    course = Path(course)
    # the course's grading profile, never this machine's guess (see README, Profiles)
    cell_timeout = cell_timeout or PROFILES[grading_profile(course)[0]].grading_cell_timeout
    # generous for a whole notebook, but finite: a run that swallows interrupts still ends
    student_timeout = student_timeout or max(600.0, 12.0 * cell_timeout)
    if not _assignment_in_gradebook(course, assignment):
        prepare_gradebook(course, assignment)
    root = course / "submitted"
    if students is None:
        students = sorted(p.name for p in root.iterdir()
                          if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    expected = expected_notebooks(course, assignment)
    db_args = parallel_gradebook_args(course) if workers > 1 else []

    def grade(student: str, log=log) -> StudentResult:
        return _grade_student(course, assignment, student, expected, cell_timeout,
                              student_timeout, extra_env, log, sandbox, db_args)

    if workers <= 1 or len(students) <= 1:
        return [grade(s) for s in students]
    from tqdm.auto import tqdm
    results = {}
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(students), desc=f"grading ({workers} at once)", unit="student",
                 file=sys.stderr, disable=log is None) as bar:
        futures = {pool.submit(grade, s, lambda *_: None): s for s in students}
        for done in as_completed(futures):
            results[futures[done]] = done.result()
            bar.update(1)
    return [results[s] for s in students]


def parallel_gradebook_args(course: Path) -> list[str]:
    """nbgrader options for grading several students at once: SQLite serialises the
    writers itself, each nbgrader waiting up to ``SQLITE_WAIT_S`` for the write lock
    (PostgreSQL needs nothing)."""
    url = gradebook.url(course)
    return [f"--CourseDirectory.db_url={gradebook.url(course, SQLITE_WAIT_S)}"] \
        if gradebook.is_sqlite(url) else []


# Seconds a grader waits for SQLite's write lock (a write takes milliseconds; a
# crowd of workers finishing together must queue, not fail).
SQLITE_WAIT_S = 300


def _grade_student(course: Path, assignment: str, student: str, expected: list[str],
                   cell_timeout: int, student_timeout: float, extra_env: dict | None, log,
                   sandbox: "Sandbox | None", db_args: list[str]) -> StudentResult:
    """One student of ``grade_class``: rename, autograde (sandboxed), score."""
    folder = course / "submitted" / student / assignment
    notes = []
    for src, dest in find_renamed(course, assignment, student):
        src.rename(dest)
        notes.append(f"graded {src.name} as {dest.name} (renamed)")
    handed_in = [n for n in expected if (folder / f"{n}.ipynb").is_file()]
    others = sorted(p.name for p in folder.glob("*.ipynb") if p.stem not in expected)
    if others:
        notes.append(f"not graded (unknown name): {', '.join(others)}")
    if not handed_in:
        log(f"{student}: nothing to grade ({', '.join(notes) or 'no notebook'})")
        return StudentResult(student, 0.0, sum(max_points(course, assignment, n) for n in expected),
                             [], 0.0, "nothing handed in", notes)
    log(f"{student}: autograding {', '.join(handed_in)} ...")
    session = sandbox.session() if sandbox else None
    try:
        status, seconds, tail = autograde_student(
            course, assignment, student, cell_timeout, student_timeout,
            {**(extra_env or {}), **(session.env() if session else {})},
            [*(session.nbgrader_args() if session else []), *db_args])
        if session:
            graded = course / "autograded" / student / assignment
            sandbox_mod.give_back(graded)
            notes += sandbox_notes(session.report(), [graded / f"{n}.ipynb" for n in handed_in])
    finally:
        if session:
            session.close()
    if status == "timed out":
        notes.append(f"stopped after {student_timeout:.0f} s")
    elif status == "cell timed out":
        notes.append(f"a cell ran past {cell_timeout} s and was interrupted")
    elif status == "error":
        notes.append("nbgrader failed: " + (tail.strip().splitlines() or ["?"])[-1][:200])
    notes += tampering_notes(course / "autograded" / student / assignment, handed_in)
    score, max_score, failed, manual = student_scores(course, assignment, student, handed_in)
    if not max_score:    # nothing recorded (e.g. killed before saving)
        max_score = sum(max_points(course, assignment, n) for n in handed_in)
    return StudentResult(student, score, max_score, failed, seconds, status, notes, manual,
                         handed_in)


def open_sandbox(extra_env: dict | None = None, limits=None) -> Sandbox:
    """The grading sandbox for the cache the kernels will use (``TLCOURSE_CACHE`` of
    ``extra_env`` or of this process); raises ``SandboxError`` when bwrap is missing."""
    from tlcourse import cache
    where = (extra_env or {}).get(cache.ENV_VAR)
    return Sandbox(Path(where) if where else cache.cache_dir(), limits)


def tampering_notes(folder: Path, notebooks: list[str]) -> list[str]:
    """The cells ``tampering.CheckIntegrity`` judged, for the table: one line per
    notebook and verdict, with the first reason."""
    notes = []
    for name in notebooks:
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            continue
        for verdict, what in (("changed", "tampering: scored 0"), ("review", "for review")):
            cells = [(g, why) for g, v, why in tampering.flagged(path) if v == verdict]
            if cells:
                notes.append(f"{what}, needs manual grading in formgrader: {name} "
                             f"{', '.join(g for g, _ in cells)} ({cells[0][1]})")
    return notes


def sandbox_notes(report: dict, notebooks: list[Path]) -> list[str]:
    """What the sandbox stopped, for the table: from the launcher's report and the
    errors in the graded notebooks."""
    import nbformat
    notes = []
    limits = report.get("limits", {})
    if report.get("killed") == "memory":
        notes.append(f"sandbox: kernel killed at the memory limit "
                     f"({limits['memory_bytes'] / 2**30:.0f} GiB for all its processes)")
    if limits and report.get("peak_processes", 0) >= 0.9 * limits["processes"]:
        notes.append(f"sandbox: process limit reached ({report['peak_processes']} of "
                     f"{limits['processes']} processes and threads)")
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError):
            continue
        refused = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("ename") == "MemoryError"]
        if refused:
            notes.append(f"sandbox: memory limit refused an allocation in {path.stem} "
                         f"(cell {refused[0] + 1})")
    return notes


def sandbox_overhead(course: Path, assignment: str, student: str,
                     cell_timeout: int | None = None, extra_env: dict | None = None,
                     rounds: int = 3) -> dict:
    """Grade ``student`` without and with the sandbox, back to back, ``rounds`` times, the
    order swapped every round, after one unsandboxed warm-up run that leaves in the shared
    cache what the notebook computes (features), as running the solution once on a grading
    machine does: seconds each, and the median of the rounds' ratios (the two runs of a
    round share the machine's load; on a shared machine it changes from round to round),
    for `tlcourse bench grading`.  The scores must agree: a sandbox that costs points (a
    file the notebook can't reach) is an error, not a measurement."""
    from statistics import median

    def run(box):
        [r] = grade_class(course, assignment, [student], cell_timeout, extra_env=extra_env,
                          log=lambda *_: None, sandbox=box)
        if r.status != "ok":
            raise RuntimeError(f"grading {student} failed ({r.status}): {r.notes}")
        return r

    reference = run(None)
    start = time.perf_counter()
    box = open_sandbox(extra_env)        # after the warm-up: its cache binds show the features
    setup_s = time.perf_counter() - start
    without, inside = [], []
    try:
        for i in range(rounds):
            for sandboxed in ((False, True) if i % 2 == 0 else (True, False)):
                r = run(box if sandboxed else None)
                if r.score != reference.score:
                    raise RuntimeError(
                        f"{student} scores {reference.score} without the sandbox but {r.score} "
                        f"{'in' if sandboxed else 'out of'} it (failed: {', '.join(r.failed)})")
                (inside if sandboxed else without).append(r.seconds)
    finally:
        box.close()
    return {"without_s": without, "with_s": inside, "sandbox_setup_s": setup_s,
            "ratio": median(w / o for w, o in zip(inside, without))}


def _assignment_in_gradebook(course: Path, assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(gradebook.url(course, SQLITE_WAIT_S)) as gb:
        try:
            return bool(gb.find_assignment(assignment).notebooks)
        except MissingEntry:
            return False


def feedback_files(course: Path, assignment: str, student: str) -> list[Path]:
    return sorted((Path(course) / "feedback" / student / assignment).glob("*.html"))


def print_table(results: list[StudentResult], print_fn=print, sandbox: str = "") -> str:
    """The class table; ``sandbox`` is its first line (``Sandbox.describe()`` or "sandbox: off")."""
    head = f"{'student':20} {'score':>6} {'max':>5}  {'time':>7}  {'status':14} failed tests"
    lines = ([sandbox] if sandbox else []) + [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.student:20} {r.score:6.1f} {r.max_score:5.0f}  {r.seconds:6.1f}s  "
                     f"{r.status:14} {', '.join(r.failed) or '-'}")
        for note in r.notes:
            lines.append(f"{'':22}note: {note}")
    pending = sum(r.manual_pending for r in results)
    if pending:
        lines.append(f"(written answers are graded by hand in formgrader: "
                     f"{pending / max(len(results), 1):.0f} points per student not included)")
    text = "\n".join(lines)
    print_fn(text)
    return text


def main(assignment: str | None = None, students=None, cell_timeout: int | None = None,
         student_timeout: float | None = None, feedback: bool = True, sandbox: bool = True,
         workers: int = 1) -> int:
    """`tlcourse grade [ASSIGNMENT]`: grade the class in the course root, print the table.
    ``sandbox=False`` (``--no-sandbox``) runs every submission with the instructor's rights;
    ``workers`` students are graded at once.  The gradebook (``TLCOURSE_GRADEBOOK_URL``)
    is opened once first: if it cannot be, nobody is graded."""
    from tlcourse.course.build import assignments, repo_root

    course = repo_root()
    names = [assignment] if assignment else [
        a for a in assignments(course) if (course / "submitted").is_dir() and
        any((course / "submitted").glob(f"*/{a}"))]
    if not names:
        print(f"No submissions under {course / 'submitted'}/<student>/<assignment>/ "
              "(collect them with `nbgrader collect`, or copy them there).")
        return 1
    from tlcourse.profiles import PROFILES, grading_profile
    try:
        profile, where = grading_profile(course)
    except ValueError as exc:
        print(f"tlcourse grade: {exc}", file=sys.stderr)
        return 1
    print(f"grading profile: {profile} ({where}); per-cell limit "
          f"{cell_timeout or PROFILES[profile].grading_cell_timeout} s")
    try:
        gradebook.check(gradebook.url(course))
    except gradebook.GradebookUnreachable as exc:
        print(f"tlcourse grade: {exc}", file=sys.stderr)
        return 1
    try:
        box = open_sandbox() if sandbox else None
    except sandbox_mod.SandboxError as exc:
        print(f"tlcourse grade: {exc}", file=sys.stderr)
        return 1
    try:
        for name in names:
            print(f"== {name}")
            results = grade_class(course, name, students, cell_timeout, student_timeout,
                                  sandbox=box, workers=workers)
            if feedback:
                generate_feedback(course, name)
                print(f"feedback: {course / 'feedback'}/<student>/{name}/*.html")
            print_table(results, sandbox=box.describe() if box else "sandbox: off")
    finally:
        if box:
            box.close()
    return 0

