"""Grading with nbgrader, through its Python API and gradebook (never ``validate``,
which exits 0 even when tests fail).

Used by ``tlcourse grade`` and by the round-trip tests: the solution must get
full marks, the untouched student version zero on every autograded cell.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from tlcourse.build import run_nbgrader


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
    shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
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
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
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
