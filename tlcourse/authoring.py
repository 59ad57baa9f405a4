"""Small helpers for writing nbgrader source notebooks from a script.

The .ipynb files in source/ are the source of truth; these functions only make
the nbgrader metadata right the first time (schema 3, ids, points, locks).

    cells = [md("# Title"), code("x = 1"),
             solution("def f():\\n    ### BEGIN SOLUTION\\n    ...\\n    ### END SOLUTION", "f"),
             tests("assert f() == 1", "test_f", points=2)]
    write_notebook("source/a/A.ipynb", cells)
"""
from __future__ import annotations

from pathlib import Path

import nbformat

# The kernel `make setup` registers inside the venv; students' notebooks open on it.
COURSE_KERNEL = "tlcourse"
COURSE_KERNEL_DISPLAY = "Transfer learning (PyTorch + TF)"


def _nbgrader(grade_id, *, grade=False, solution=False, locked=False, task=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": task}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def md(text: str, grade_id: str | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
    if grade_id:
        cell.metadata.update(_nbgrader(grade_id, locked=True))
    return cell


def code(src: str, tags=(), grade_id: str | None = None) -> nbformat.NotebookNode:
    """A plain code cell (locked when given a grade_id, so students can't edit it)."""
    cell = nbformat.v4.new_code_cell(src.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    if grade_id:
        cell.metadata.update(_nbgrader(grade_id, locked=True))
    return cell


def solution(src: str, grade_id: str) -> nbformat.NotebookNode:
    """A cell the student fills in; ### BEGIN/END SOLUTION mark what is removed."""
    cell = nbformat.v4.new_code_cell(src.strip("\n"))
    cell.metadata.update(_nbgrader(grade_id, solution=True))
    return cell


def tests(src: str, grade_id: str, points: float, tags=()) -> nbformat.NotebookNode:
    """An autograded, locked test cell; ### BEGIN/END HIDDEN TESTS hide parts."""
    cell = nbformat.v4.new_code_cell(src.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    cell.metadata.update(_nbgrader(grade_id, grade=True, locked=True, points=points))
    return cell


def written_answer(text: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    """A manually graded markdown answer cell."""
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
    cell.metadata.update(_nbgrader(grade_id, grade=True, solution=True, points=points))
    return cell


def write_notebook(path, cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    for cell in nb.cells:
        cell.pop("id", None)
    nb.metadata = {
        "kernelspec": {"display_name": COURSE_KERNEL_DISPLAY, "language": "python",
                       "name": COURSE_KERNEL},
        "language_info": {"name": "python"},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nb.nbformat_minor = 4
    path.write_text(nbformat.writes(nb, version=4) + "\n")
    return path
