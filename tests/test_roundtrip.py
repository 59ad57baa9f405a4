"""The nbgrader round trip for every assignment, scored from the gradebook.

The solution version must get full marks on every autograded cell, the
untouched student version zero on every one (``nbgrader validate`` can't
prove either: it exits 0 whatever happens).
"""
import pytest

from course import ROOT, assignments
from tlcourse.course import grade as grading

pytestmark = pytest.mark.grading


@pytest.mark.parametrize("assignment", assignments())
def test_solution_full_marks_student_version_zero(assignment, tmp_path):
    course = grading.make_course(ROOT, tmp_path / "course", [assignment])
    grading.submit(course, "solution", assignment,
                   sorted((ROOT / "notebooks" / assignment).glob("*.ipynb")))
    grading.submit(course, "untouched", assignment,
                   sorted((ROOT / "release" / assignment).glob("*.ipynb")))
    proc = grading.autograde(course, assignment)
    assert proc.returncode == 0, proc.stderr[-3000:]

    auto = [s for s in grading.scores(course, assignment) if s.autograded]
    assert auto, "no autograded cells found in the gradebook"
    solution = [s for s in auto if s.student == "solution"]
    untouched = [s for s in auto if s.student == "untouched"]
    notebooks = {p.stem for p in (ROOT / "source" / assignment).glob("*.ipynb")}
    assert {s.notebook for s in solution} == notebooks

    lost = [(s.notebook, s.grade_id, s.score, s.max_score) for s in solution
            if s.score != s.max_score]
    assert not lost, f"solution lost points: {lost}"
    earned = [(s.notebook, s.grade_id, s.score) for s in untouched if s.score != 0]
    assert not earned, f"untouched student version earned points: {earned}"
    assert len(untouched) == len(solution)
