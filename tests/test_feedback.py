"""What a student reads when a graded check fails (issue 29): ``tlcourse.feedback`` and
the Validate report (``tlcourse.course.validate``).

* ``check_returned`` refuses the wrong form of a return value in one line that names
  what came back and what to return;
* an error leaving a graded test (``exercises.own_code``) is shown, in a real IPython
  kernel, as "<grade_id>: <message>" and the student's own frames, with no line of a
  traceback into the package;
* nbgrader's Validator on a small notebook, reported through ``validate.report``: a summary
  line (checks passed of all, points at stake), one line per failing check with its section,
  and nothing of tlcourse's files.
"""
from __future__ import annotations

import textwrap

import nbformat
import numpy as np
import pytest

from tlcourse import exercises, feedback
from tlcourse.course import validate


# ---------------------------------------------------------------- check_returned
@pytest.mark.parametrize("value, kw, says", [
    (None, {"length": 2}, "f returned None: return a pair"),
    ((1, 2, 3), {"length": 2}, "f returned a tuple of 3: return a pair"),
    (np.zeros((4, 3)), {"shape": (4, 5)}, "f returned a float64 ndarray of shape (4, 3): return a pair"),
    (np.zeros((4,), "int64"), {"dtype": "float"}, "f returned a int64 ndarray of shape (4,) of dtype int64"),
    (1.5, {"within": (0, 1)}, "f returned 1.5 (float) with values outside [0, 1]: return a pair"),
    ("x", {"kind": float}, "f returned 'x' (str): return a pair"),
])
def test_check_returned_names_what_came_back_and_what_to_return(value, kw, says):
    with pytest.raises(feedback.AnswerForm) as refused:
        feedback.check_returned(value, "f", "a pair", **kw)
    assert str(refused.value).startswith(says)
    assert refused.value._render_traceback_() == [str(refused.value)]


def test_check_returned_gives_back_a_value_of_the_right_form():
    x = np.ones((4, 5), "float32")
    assert feedback.check_returned(x, "f", "features", shape=(None, 5), dtype="float",
                                   within=(0, 1)) is x
    assert feedback.check_returned((x, x), "f", "a pair", length=2)[0] is x


# ---------------------------------------------------------------- condensed failures
TOP_K_TEST = """\
with exercises.own_code("test_top_k"):
    assert top_k_accuracy(SCORES, [2, 0], 2) == 1.0
"""


def run_cells(tmp_path, student: str, test: str):
    """Run ``student`` then ``test`` as cells compiled from files of their own (as a kernel
    does); the exception the test cell raised."""
    ns = {"__name__": "__main__", "exercises": exercises, "np": np,
          "SCORES": np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])}
    for name, code in (("student", student), ("test", test)):
        path = tmp_path / f"{name}_cell.py"
        path.write_text(textwrap.dedent(code))
        try:
            exec(compile(path.read_text(), str(path), "exec"), ns)
        except Exception as exc:        # noqa: BLE001 - what the cell raised is the subject
            return exc
    raise AssertionError("the test cell passed")


def test_an_error_in_the_students_code_shows_their_frame_and_hides_the_packages(tmp_path):
    exc = run_cells(tmp_path, """\
        def top_k_accuracy(scores, labels, k):
            best = np.argsort(scores)[:, -k:]
            return best[5]
        """, TOP_K_TEST)
    lines = exc._render_traceback_()
    assert lines[0] == "test_top_k: IndexError: index 5 is out of bounds for axis 0 with size 2"
    assert lines[1] == "    in your top_k_accuracy, line 3: return best[5]"
    assert "not shown" in lines[-1] and len(lines) == 3, lines
    assert not any("tlcourse" in line or "site-packages" in line for line in lines)


def test_a_bare_assertion_is_named_by_its_test_line(tmp_path):
    exc = run_cells(tmp_path, "def top_k_accuracy(scores, labels, k):\n    return 0.5\n", TOP_K_TEST)
    assert exc._render_traceback_()[0] == \
        "test_top_k: this check failed: assert top_k_accuracy(SCORES, [2, 0], 2) == 1.0"


def test_a_refusal_of_the_packages_answer_is_one_line_with_the_check(tmp_path):
    exc = run_cells(tmp_path, "from tlcourse import pets\ntop_k_accuracy = pets.top_k_accuracy\n",
                    TOP_K_TEST)
    assert isinstance(exc, exercises.NotOwnCode)
    first = exc._render_traceback_()[0]
    assert first.startswith("test_top_k: test_top_k asks for your own implementation"), first


def test_ipython_shows_the_condensed_lines_in_the_cells_error_output(tmp_path):
    """In a real kernel (nbclient): the error output nbgrader keeps is the condensed lines."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
                    "import numpy as np\nfrom tlcourse import exercises\n"
                    "SCORES = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])"),
                nbformat.v4.new_code_cell("def top_k_accuracy(scores, labels, k):\n    return None"),
                nbformat.v4.new_code_cell(TOP_K_TEST)]
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3").execute()
    [error] = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    assert error.traceback == [
        "test_top_k: this check failed: assert top_k_accuracy(SCORES, [2, 0], 2) == 1.0",
        "    (1 frame inside the package, the libraries or the test not shown)"], error.traceback


# ---------------------------------------------------------------- the Validate report
def small_notebook(student_body: str):
    """Two sections, a graded test in each (2 and 1 points), and a knowledge check."""
    def graded(source, grade_id, points=None, solution=False):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": points is not None,
                                     "solution": solution, "locked": not solution,
                                     "schema_version": 3, **({"points": points} if points else {})}
        return cell

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Small\n## 1. Top-k accuracy"),
        nbformat.v4.new_code_cell("import numpy as np\nfrom tlcourse import exercises, feedback\n"
                                  "SCORES = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])"),
        graded(f"def top_k_accuracy(scores, labels, k):\n{student_body}", "top_k", solution=True),
        graded("with exercises.own_code('test_top_k'):\n"
               "    feedback.check_returned(top_k_accuracy(SCORES, [2, 0], 1), 'top_k_accuracy',\n"
               "                            'the share of rows whose label is in the top k, a float',\n"
               "                            within=(0, 1))\n"
               "    assert top_k_accuracy(SCORES, [2, 0], 2) == 1.0", "test_top_k", 2.0),
        nbformat.v4.new_markdown_cell("## 2. Arithmetic"),
        graded("assert 1 + 1 == 2", "test_sum", 1.0),
    ]
    return nb


@pytest.mark.parametrize("body, first_failure", [
    ("    return None",
     "\u2717 1. Top-k accuracy (test_top_k, 2 points): top_k_accuracy returned None: return the "
     "share of rows whose label is in the top k, a float"),
    ("    return float(np.mean([labels[i] in np.argsort(s)[-k:] for i, s in enumerate(scores)])) + undefined",
     "\u2717 1. Top-k accuracy (test_top_k, 2 points): NameError: name 'undefined' is not defined"),
])
def test_validate_reports_a_summary_first_then_one_line_per_failing_check(tmp_path, body,
                                                                          first_failure):
    from nbgrader.validator import Validator

    path = tmp_path / "Small.ipynb"
    nbformat.write(small_notebook(body), path)
    result = Validator().validate(str(path))
    assert result.get("failed"), result          # nbgrader's own run: the test cell failed
    reported = validate.report(path, result)
    [entry] = reported["failed"]
    lines = entry["raw_error"].splitlines()
    assert lines[0] == entry["source"] == ("1 of 2 checks pass; the 1 failing carry 2 of 3 "
                                           "points. Hidden tests run when it is graded.")
    assert lines[2] == first_failure
    assert all(line.startswith("    in your ") for line in lines[3:]), lines
    assert "tlcourse/" not in entry["error"] and "Traceback" not in entry["error"]
    assert entry["error"].startswith("<style>") and "<b>1 of 2 checks pass" in entry["error"]


def test_validate_passes_nbgraders_other_answers_through(tmp_path):
    assert validate.report(tmp_path / "none.ipynb", {}) == {}
    changed = {"changed": [{"source": "assert True"}]}
    assert validate.report(tmp_path / "none.ipynb", changed) == changed


def test_the_course_servers_swap_nbgraders_validate_for_the_report():
    from tlcourse.course import lab

    for role in lab.ROLES:
        args = lab.command(lab.ROOT, role, open_browser=False)
        assert f"--ServerApp.jpserver_extensions={validate.NBGRADER_VALIDATE}=False" in args
        assert f"--ServerApp.jpserver_extensions={validate.EXTENSION}=True" in args
    assert validate._jupyter_server_extension_points() == [{"module": validate.EXTENSION}]


def test_an_unwritten_function_says_so(tmp_path):
    exc = run_cells(tmp_path, "def top_k_accuracy(scores, labels, k):\n    raise NotImplementedError()\n",
                    TOP_K_TEST)
    lines = exc._render_traceback_()
    assert lines[0] == ("test_top_k: top_k_accuracy is not written yet: replace its "
                        "`raise NotImplementedError()` with your code"), lines
    assert lines[1] == "    in your top_k_accuracy, line 2: raise NotImplementedError()"


def test_a_name_an_earlier_cell_should_have_made_says_so(tmp_path):
    exc = run_cells(tmp_path, "def top_k_accuracy(scores, labels, k):\n    return 1.0\n",
                    'with exercises.own_code("test_top_k"):\n    assert model is not None\n')
    assert exc._render_traceback_()[0] == ("test_top_k: NameError: name 'model' is not defined "
                                           "(a cell above that defines it failed or has not run)")
