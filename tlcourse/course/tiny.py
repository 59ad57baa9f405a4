"""A one-exercise nbgrader assignment that autogrades in seconds: for trying a
grading set-up (a hub, a gradebook database, parallel workers) and for the tests
and benchmarks that do, without training a model.

``write_source(course)`` puts ``source/tiny/Tiny.ipynb`` in a course directory:
a solution cell (``double``) and two locked test cells (2 + 1 points).  The
source notebook is the solution; ``nbgrader generate_assignment`` makes the
student version (``raise NotImplementedError()``), which scores zero.
"""
from __future__ import annotations

from pathlib import Path

ASSIGNMENT = "tiny"
NOTEBOOK = "Tiny"
POINTS = 3.0
SOLUTION = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"


def _cell(kind: str, source: str, grade_id: str | None = None, points: float | None = None,
          solution: bool = False):
    import nbformat
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    if grade_id:
        meta = {"grade_id": grade_id, "locked": not solution, "schema_version": 3,
                "solution": solution, "grade": points is not None, "task": False}
        if points is not None:
            meta["points"] = points
        cell.metadata["nbgrader"] = meta
    return cell


def notebook():
    """The source notebook (with the solution)."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        _cell("markdown", "# Tiny\nWrite `double(x)`, which returns twice `x`."),
        _cell("code", SOLUTION, "double", solution=True),
        _cell("code", "assert double(2) == 4\nassert double(0) == 0", "test_double", 2.0),
        _cell("code", "assert double(-1.5) == -3.0", "test_negative", 1.0),
    ]
    return nb


def write_source(course: Path) -> Path:
    """``course/source/tiny/Tiny.ipynb``; returns its path."""
    import nbformat
    path = Path(course) / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook(), path)
    return path


def solve(path: Path) -> None:
    """Fill a student version's solution cell with the solution (what a good student does)."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "double":
            cell.source = SOLUTION
    nbformat.write(nb, path)
