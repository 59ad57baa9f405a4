"""Tampering with the grading machinery earns nothing and is flagged
(``tlcourse.integrity`` in the kernel, ``tlcourse.course.tampering`` in the grader).

Unit tests: the static scan of a student's cells, the kernel's record of the
machinery, and the grader's verdict on a notebook's integrity records.  End to
end: submissions that switch off the guard, replace a check helper, replace
numpy's testing functions or swap a function's ``__code__`` go through the real
``nbgrader autograde``; every graded cell that passed after the change scores 0
and is marked "needs manual grading" (what formgrader shows), with the reason in
the cell's output; the same notebook untouched gets full marks and no flag.
"""
import types

import nbformat
import pytest

from course import ROOT, nbgrader_meta, read
from tlcourse import integrity, pets
from tlcourse.course import grade as grading
from tlcourse.course import tampering


# --------------------------------------------------------------------------
# the static scan (outside the kernel)
# --------------------------------------------------------------------------
PREAMBLE = "from tlcourse import pets, exercises\nimport numpy as np\nimport sys\n"


@pytest.mark.parametrize("code, change", [
    ("pets.check_raises = lambda *a, **k: None", "rebinds tlcourse.pets.check_raises"),
    ("np.testing.assert_allclose = print", "rebinds numpy.testing.assert_allclose"),
    ("exercises.own_code.__enter__ = lambda self: self", "rebinds exercises.own_code.__enter__"),
    ("f.__code__ = g.__code__", "rebinds f.__code__"),
    ("sys.settrace(lambda *a: None)", "calls sys.settrace"),
    ("setattr(pets, 'check_close', print)", "setattr() on tlcourse.pets"),
    ("del np.array_equal", "deletes numpy.array_equal"),
    ("get_ipython().events.unregister('post_run_cell', f)", "changes IPython's event hooks"),
    ("import builtins\nbuiltins.len = lambda x: 0", "rebinds builtins.len"),
])
def test_a_cell_that_rebinds_the_machinery_is_a_change(code, change):
    changes, _ = tampering.scan_cell(PREAMBLE + code)
    assert change in changes


@pytest.mark.parametrize("code, review", [
    ("x = pets.top_k_accuracy.__wrapped__", "uses .__wrapped__"),
    ("exec('1')", "calls exec()"),
    ("import inspect", "imports inspect"),
    ("from importlib import util", "imports util from importlib"),
    ("m = sys.modules['tlcourse.pets']", "uses sys.modules"),
    ("print(exercises._active)", "uses tlcourse.exercises._active"),
    ("!ls", "runs a cell magic or a shell command"),
])
def test_a_cell_that_reaches_for_the_machinery_is_flagged_for_review(code, review):
    changes, reviews = tampering.scan_cell(PREAMBLE + code)
    assert review in reviews and not changes


@pytest.mark.parametrize("code", [
    "model.fc = nn.Linear(512, 37)",
    "import torch\ntorch.backends.cudnn.benchmark = True",
    "%matplotlib inline\nlayers = list(model.modules())",
    "plt.rcParams['figure.dpi'] = 100",
    "def f(:",          # a syntax error fails when it runs; nothing to scan
])
def test_ordinary_code_is_neither(code):
    assert tampering.scan_cell(PREAMBLE + code) == ([], [])


def test_the_course_notebooks_themselves_are_clean():
    """The solution (and so the released) code gives no finding in any cell a student edits."""
    paths = sorted((ROOT / "notebooks").glob("*/*.ipynb")) + \
        sorted((ROOT / "editions").glob("*/notebooks/*/*.ipynb"))
    assert paths
    for path in paths:
        aliases = {}
        for cell in read(path).cells:
            if cell.cell_type == "code":
                found = tampering.scan_cell(cell.source, aliases)
                if tampering.student_editable(cell):
                    assert found == ([], []), f"{path.name}: {found} in\n{cell.source}"


# --------------------------------------------------------------------------
# the kernel's record (in this process, without arming its hooks)
# --------------------------------------------------------------------------
def test_the_record_sees_replaced_functions_swapped_code_and_methods(monkeypatch):
    import numpy.testing    # as arm() does: recorded before any cell runs
    monitor = integrity.Monitor()
    assert monitor.check() == [], "the package as installed is its own record"
    monkeypatch.setattr(pets, "check_raises", lambda *a, **k: None)
    monkeypatch.setattr(pets.check_close, "__code__", (lambda *a, **k: None).__code__)
    from tlcourse import exercises
    monkeypatch.setattr(exercises.own_code, "__enter__", lambda self: self)
    monkeypatch.setattr(numpy.testing, "assert_allclose", lambda *a, **k: None)
    evidence = monitor.check()
    assert set(evidence) >= {"tlcourse.pets.check_raises was replaced",
                             "tlcourse.pets.check_close.__code__ was swapped",
                             "tlcourse.exercises.own_code.__enter__ was replaced",
                             "numpy.testing.assert_allclose was replaced"}
    monkeypatch.undo()
    assert monitor.check() == evidence, "evidence sticks once seen"


def test_a_module_first_seen_with_a_cells_function_in_it_is_evidence():
    module = types.ModuleType("tlcourse.fake_adapter")
    exec(compile("def predict(x):\n    return x\n", "/tmp/ipykernel_0/cell.py", "exec"),
         vars(module))
    module.predict.__module__ = module.__name__
    assert integrity.Monitor().record.add_module(module.__name__, module) == \
        ["tlcourse.fake_adapter.predict is not the package's own code"]


def test_the_audit_hook_notes_code_writes_and_trace_hooks_from_student_code():
    monitor = integrity.Monitor()
    monitor.audit("object.__setattr__", (pets.check_close, "__code__", None))
    monitor.audit("object.__setattr__", (lambda: 0, "__code__", None))    # a student's own
    exec(compile("monitor.audit('sys.settrace', ())", "/tmp/ipykernel_0/cell.py", "exec"),
         {"monitor": monitor})
    # a library setting its own functions' defaults at import (pyparsing does) is not evidence
    exec(compile("monitor.audit('object.__setattr__', (f, '__kwdefaults__', None))",
                 pets.__file__, "exec"), {"monitor": monitor, "f": pets.check_close})
    assert monitor.evidence == ["tlcourse.pets.check_close.__code__ was changed",
                                "sys.settrace was called by <module> in /tmp/ipykernel_0/cell.py"]


# --------------------------------------------------------------------------
# the grader's verdict on a notebook's records (no kernel)
# --------------------------------------------------------------------------
def record(evidence=()):
    return nbformat.v4.new_output("display_data",
                                  data={integrity.MIME: {"cell": 1, "evidence": list(evidence)}})


def graded_cell(grade_id, outputs):
    cell = nbformat.v4.new_code_cell("assert True", outputs=outputs)
    cell.metadata.nbgrader = {"grade": True, "grade_id": grade_id, "locked": True,
                              "points": 1, "solution": False}
    return cell


def test_the_verdict_from_the_records():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", outputs=[record()]),
        graded_cell("clean", [record()]),
        graded_cell("missing", []),
        graded_cell("forged", [record(), record()]),
        graded_cell("failed_anyway", [record(["x"]), nbformat.v4.new_output(
            "error", ename="AssertionError", evalue="", traceback=[])]),
        nbformat.v4.new_code_cell("import inspect", outputs=[record()]),
        graded_cell("reviewed", [record()]),
        graded_cell("changed", [record(["tlcourse.pets.check_raises was replaced"])]),
    ])
    nb, resources = tampering.CheckIntegrity().preprocess(nb, {})
    verdicts = resources[tampering.RESOURCE]
    assert set(verdicts) == {"missing", "forged", "failed_anyway", "reviewed", "changed"}
    assert verdicts["changed"] == ("changed", "tlcourse.pets.check_raises was replaced")
    assert verdicts["reviewed"] == ("review", "a cell of yours imports inspect")
    assert "no integrity record" in verdicts["missing"][1]
    assert "more than one integrity record" in verdicts["forged"][1]
    assert not any(integrity.MIME in o.get("data", {}) for c in nb.cells for o in c.outputs)
    errors = {nbgrader_meta(c)["grade_id"]: o.ename for c in nb.cells for o in c.outputs
              if o.output_type == "error"}
    assert errors == {"missing": "TamperingDetected", "forged": "TamperingDetected",
                      "failed_anyway": "TamperingDetected", "changed": "TamperingDetected"}
    assert [o.ename for o in nb.cells[4].outputs] == ["AssertionError", "TamperingDetected"]


# --------------------------------------------------------------------------
# end to end: nbgrader autograde
# --------------------------------------------------------------------------
ASSIGNMENT, NOTEBOOK = "pets_lab", "OxfordPetsPyTorch"
BEFORE = "test_top_k"          # the tampering cell goes right before this graded cell
TAMPERING = {
    "guard_off": "exercises.own_code.__enter__ = lambda self: self\n"
                 "exercises.own_code.__exit__ = lambda self, *exc: False\n"
                 "top_k_accuracy = lambda s, y, k=1: pets.top_k_accuracy(s, y, k)",
    "check_helper": "pets.check_raises = lambda *args, **kwargs: None",
    "numpy_testing": "np.testing.assert_allclose = lambda *args, **kwargs: None\n"
                     "np.array_equal = lambda *args, **kwargs: True",
    "code_swap": "pets.check_close.__code__ = (lambda *args, **kwargs: None).__code__",
}
REVIEW = "import inspect    # only looks: scores kept, flagged for a person"


def submission(tmp_path, student, code):
    nb = read(ROOT / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    if code:
        at = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == BEFORE)
        nb.cells.insert(at, nbformat.v4.new_code_cell(code))
    path = tmp_path / student / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tampering")
    course = grading.make_course(ROOT, tmp / "course", [ASSIGNMENT])
    students = {"honest": "", "reviewed": REVIEW, **TAMPERING}
    for student, code in students.items():
        grading.submit(course, student, ASSIGNMENT, [submission(tmp, student, code)])
    proc = grading.autograde(course, ASSIGNMENT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return course


def grades(course, student) -> dict:
    from nbgrader.api import Gradebook
    from tlcourse.course import gradebook
    with Gradebook(gradebook.url(course)) as gb:
        nb = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
        return {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in nb.grades
                if g.cell.cell_type == "code"}


def graded_ids() -> list[str]:
    nb = read(ROOT / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells
            if c.cell_type == "code" and nbgrader_meta(c).get("grade")]


@pytest.mark.grading
def test_the_untouched_notebook_gets_full_marks_and_no_flag(graded):
    got = grades(graded, "honest")
    assert got and all(score == top and not manual for score, top, manual in got.values()), got
    assert tampering.flagged(graded / "autograded" / "honest" / ASSIGNMENT / f"{NOTEBOOK}.ipynb") == []


@pytest.mark.grading
@pytest.mark.parametrize("student", sorted(TAMPERING))
def test_tampering_scores_zero_from_the_change_on_and_needs_manual_grading(graded, student):
    got = grades(graded, student)
    ids = graded_ids()
    after = ids[ids.index(BEFORE):]
    for grade_id in ids:
        score, top, manual = got[grade_id]
        if grade_id in after:
            assert score == 0 and manual, f"{student}: {grade_id} {got[grade_id]}"
        else:
            assert score == top and not manual, f"{student}: {grade_id} {got[grade_id]}"
    flags = tampering.flagged(graded / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    assert [g for g, verdict, _ in flags] == after and {v for _, v, _ in flags} == {"changed"}
    reason = flags[0][2]
    assert "a cell of yours" in reason and " was " in reason, reason   # both sources saw it
    [note] = grading.tampering_notes(graded / "autograded" / student / ASSIGNMENT, [NOTEBOOK])
    assert note.startswith(f"tampering: scored 0, needs manual grading in formgrader: "
                           f"{NOTEBOOK} {', '.join(after)} (a cell of yours")


@pytest.mark.grading
def test_a_cell_that_only_looks_keeps_its_points_and_is_flagged_for_review(graded):
    got = grades(graded, "reviewed")
    ids = graded_ids()
    after = ids[ids.index(BEFORE):]
    assert all(got[g][0] == got[g][1] for g in ids), got
    assert [g for g in ids if got[g][2]] == after
    flags = tampering.flagged(graded / "autograded" / "reviewed" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    assert {v for _, v, _ in flags} == {"review"} and "imports inspect" in flags[0][2]
