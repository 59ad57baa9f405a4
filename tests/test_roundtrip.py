"""The nbgrader round trip for every assignment, scored from the gradebook.

Per assignment, one scratch course: the solution version (notebooks/) and the
untouched student version (release/) are handed in and autograded in one
nbgrader run.  The solution must get full marks on every autograded cell, the
untouched version zero on every one (``nbgrader validate`` can't prove either:
it exits 0 whatever happens).  The solution notebooks nbgrader executed are also
read cell by cell: in a grading run every code cell ran and none raised (an
error in a cell that is not a test costs no points, so scores alone miss it).

nbval executes the same solutions too, not in a grading run: there the lesson's
demonstrations, which grading skips (``Profile.grading``), run as well.
"""
import pytest

from course import ROOT, assignments, read
from tlcourse.course import grade as grading

pytestmark = pytest.mark.grading


@pytest.fixture(scope="module", params=assignments())
def graded(request, tmp_path_factory):
    """(assignment, course, autograde process) after one autograde of both versions."""
    assignment = request.param
    course = grading.make_course(ROOT, tmp_path_factory.mktemp(assignment) / "course", [assignment])
    grading.submit(course, "solution", assignment, solutions(assignment))
    grading.submit(course, "untouched", assignment,
                   sorted((ROOT / "release" / assignment).glob("*.ipynb")))
    return assignment, course, grading.autograde(course, assignment)


def solutions(assignment: str) -> list:
    return sorted((ROOT / "notebooks" / assignment).glob("*.ipynb"))


def test_solution_full_marks_student_version_zero(graded):
    assignment, course, proc = graded
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


def cell_failures(path) -> list[str]:
    """Why the code cells of an executed notebook fail: not run, or an error output."""
    out = []
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue       # nothing to run (nbclient skips empty cells too)
        where = f"{path.name} cell {i} ({cell.get('id', '?')})"
        if cell.execution_count is None:
            out.append(f"{where}: never ran (the kernel died or stopped before it)")
        for o in cell.outputs:
            if o.output_type == "error":
                out.append(f"{where}: {o.ename}: {o.evalue}")
    return out


def test_every_solution_cell_runs_without_error(graded):
    assignment, course, proc = graded
    assert proc.returncode == 0, proc.stderr[-3000:]
    for path in solutions(assignment):
        executed = course / "autograded" / "solution" / assignment / path.name
        assert executed.is_file(), f"nbgrader wrote no executed copy of {path.name}"
        failures = cell_failures(executed)
        assert not failures, "\n".join(failures)


def test_cell_failures_names_the_cells_that_raised_or_never_ran(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    nb = new_notebook(cells=[
        new_code_cell("x = 1", id="fine", execution_count=1),
        new_code_cell("1 / 0", id="raises", execution_count=2, outputs=[new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]),
        new_code_cell("y = x", id="after-the-kernel-died"),
        new_code_cell("  \n", id="empty"),
    ])
    path = tmp_path / "Executed.ipynb"
    nbformat.write(nb, path)
    assert cell_failures(path) == [
        "Executed.ipynb cell 1 (raises): ZeroDivisionError: division by zero",
        "Executed.ipynb cell 2 (after-the-kernel-died): never ran (the kernel died or stopped "
        "before it)"]
