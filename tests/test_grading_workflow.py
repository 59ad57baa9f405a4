"""The instructor's grading workflow, end to end, on a simulated class (pets_lab, PyTorch).

release -> submitted/<student>/pets_lab/ -> autograde (one nbgrader run per student,
two students at once, as `tlcourse grade --workers 2` does) -> gradebook scores ->
generate_feedback HTML.

Each student gets the score a fair instructor expects, computed from the points of
the test cells their mistakes break, and nobody's notebook stops the batch.
The PyTorch notebook is graded here (faster to start than TensorFlow); the round
trip in test_roundtrip.py covers both notebooks.
"""
import copy

import nbformat
import pytest

from course import ROOT
from tlcourse.course import grade as grading
from tlcourse.profiles import get_profile

pytestmark = pytest.mark.grading

ASSIGNMENT = "pets_lab"
NOTEBOOK = "OxfordPetsPyTorch"
SOLUTION = ROOT / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
RELEASE = ROOT / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
# the smoke profile's per-cell limit: a legitimate cell takes seconds, a loop is cut here
CELL_TIMEOUT = get_profile("smoke").grading_cell_timeout


def points() -> dict:
    nb = nbformat.read(SOLUTION, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
            for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


POINTS = points()
FULL = sum(POINTS.values())


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def replace_function(source: str, name: str, new_def: str) -> str:
    """``source`` with the top-level ``def name`` replaced by ``new_def``."""
    lines = source.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(f"def {name}("))
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("def ")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[:start] + new_def.strip("\n").splitlines() + lines[end:])


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# What each student hands in, and the autograded score a fair instructor expects.
def make_class(tmp):
    sol = nbformat.read(SOLUTION, as_version=4)
    students = {}

    students["solution"] = ([SOLUTION], FULL, [])
    students["untouched"] = ([RELEASE], 0, sorted(POINTS))

    # partly correct: a split that is not stratified, and top-k without the k check;
    # only the hidden tests of those two tasks catch it
    nb = copy.deepcopy(sol)
    c = cell(nb, "splits")
    c.source = replace_function(c.source, "stratified_split", '''
def stratified_split(labels, val_fraction, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(labels))
    n_val = int(round(val_fraction * len(labels)))
    return np.sort(idx[n_val:]), np.sort(idx[:n_val])''')
    c = cell(nb, "top_k")
    c.source = replace_function(c.source, "top_k_accuracy", '''
def top_k_accuracy(scores, labels, k=1):
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or labels.ndim != 1 or len(labels) != len(scores):
        raise ValueError("bad shapes")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == labels[:, None]).any(axis=1)))''')
    students["partial"] = ([write(nb, tmp / "partial" / SOLUTION.name)],
                           FULL - POINTS["test_splits"] - POINTS["test_top_k"],
                           ["test_splits", "test_top_k"])

    # raises in an early cell: the first task's cell fails; everything after still runs
    nb = copy.deepcopy(sol)
    cell(nb, "label_map").source = "helper = undefined_helper()\n" + cell(nb, "label_map").source
    students["raises_early"] = ([write(nb, tmp / "raises" / SOLUTION.name)],
                                FULL - POINTS["test_label_map"], ["test_label_map"])

    # loops forever in the splits cell: interrupted at the cell limit, the rest still graded
    nb = copy.deepcopy(sol)
    cell(nb, "splits").source = "while True:\n    pass\n" + cell(nb, "splits").source
    students["loops_forever"] = ([write(nb, tmp / "loops" / SOLUTION.name)],
                                 FULL - POINTS["test_splits"], ["test_splits"])

    # edits one locked test cell to pass and deletes another, with wrong code under both:
    # nbgrader restores the original tests, which then fail
    nb = copy.deepcopy(sol)
    c = cell(nb, "top_k")
    c.source = replace_function(c.source, "top_k_accuracy",
                                "def top_k_accuracy(scores, labels, k=1):\n    return 1.0")
    cell(nb, "test_top_k").source = "assert True  # tests? what tests?"
    c = cell(nb, "evaluation")
    c.source = replace_function(c.source, "per_species_accuracy",
                                'def per_species_accuracy(labels, preds, class_species):\n'
                                '    return {"cat": 1.0, "dog": 1.0}')
    nb.cells.remove(cell(nb, "test_evaluation"))
    students["edits_tests"] = ([write(nb, tmp / "edits" / SOLUTION.name)],
                               FULL - POINTS["test_top_k"] - POINTS["test_evaluation"],
                               ["test_evaluation", "test_top_k"])

    # the right notebook under another name
    students["renamed"] = ([write(copy.deepcopy(sol), tmp / "renamed" / f"{NOTEBOOK}-Copy1.ipynb")],
                           FULL, [])

    # a training loop that never steps, and a model file handed in beside the notebook:
    # the grader trains the student's own pipeline itself, so the file plays no part
    nb = copy.deepcopy(sol)
    c = cell(nb, "training")
    c.source = replace_function(c.source, "train_one_epoch",
                                "def train_one_epoch(model, loader, loss_fn, optimizer, device):\n"
                                "    return 1.0")
    model_file = tmp / "no_training" / "pets_model.pt"
    model_file.parent.mkdir(parents=True)
    model_file.write_bytes(b"weights trained on the test split, says the student")
    students["no_training"] = ([write(nb, tmp / "no_training" / SOLUTION.name), model_file],
                               FULL - POINTS["test_training"] - POINTS["test_accuracy_target"],
                               ["test_accuracy_target", "test_training"])
    return students


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    course = grading.make_course(ROOT, tmp / "course", [ASSIGNMENT])
    students = make_class(tmp / "work")
    for name, (files, _, _) in students.items():
        grading.submit(course, name, ASSIGNMENT, files)
    # two at once (`tlcourse grade --workers 2`): the others are graded while the loop
    # waits out its cell limit; the serial path is tested in test_gradebook_db.py.
    # Sandboxed, as `tlcourse grade` grades by default
    box = grading.open_sandbox()
    try:
        results = grading.grade_class(course, ASSIGNMENT, cell_timeout=CELL_TIMEOUT,
                                      extra_env={"TLCOURSE_PROFILE": "smoke"}, workers=2,
                                      sandbox=box)
    finally:
        box.close()
    grading.print_table(results, sandbox=box.describe())
    proc = grading.generate_feedback(course, ASSIGNMENT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return course, students, {r.student: r for r in results}


STUDENTS = ["solution", "untouched", "partial", "raises_early", "loops_forever", "edits_tests",
            "renamed", "no_training"]


@pytest.mark.parametrize("student", STUDENTS)
def test_each_student_gets_the_fair_score(graded, student):
    course, students, results = graded
    _, expected, failed = students[student]
    r = results[student]
    assert r.max_score == FULL, r
    assert r.score == expected, f"{student}: {r.score} of {r.max_score}, expected {expected}; {r}"
    assert sorted(r.failed) == sorted(failed), r
    assert r.manual_pending == 2            # the written answer is left to the instructor
    assert r.status != "timed out"
    assert grading.feedback_files(course, ASSIGNMENT, student), f"no feedback HTML for {student}"


def test_loop_was_cut_at_the_cell_limit(graded):
    _, _, results = graded
    r = results["loops_forever"]
    assert r.status == "cell timed out" and any("interrupted" in n for n in r.notes), r
    assert r.seconds < CELL_TIMEOUT + 300, r
    # the others did not wait on it
    assert all(results[s].status == "ok" for s in STUDENTS if s != "loops_forever"), results


def test_renamed_notebook_was_graded_and_reported(graded):
    course, _, results = graded
    folder = course / "submitted" / "renamed" / ASSIGNMENT
    assert (folder / f"{NOTEBOOK}.ipynb").is_file()
    assert any(f"{NOTEBOOK}-Copy1.ipynb" in n and "renamed" in n for n in results["renamed"].notes)
    assert results["renamed"].notebooks == [NOTEBOOK]


def test_locked_tests_were_restored(graded):
    course, _, _ = graded
    nb = nbformat.read(course / "autograded" / "edits_tests" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                       as_version=4)
    topk = cell(nb, "test_top_k")
    assert "tests? what tests?" not in topk.source and "pets.check_raises" in topk.source
    evaluation = cell(nb, "test_evaluation")          # deleted by the student, added back
    assert "was missing from the submission" in evaluation.source
    assert any(o.get("output_type") == "error" for o in evaluation.outputs)


def test_the_grader_trained_the_students_pipeline_not_their_file(graded):
    course, _, results = graded
    nb = nbformat.read(course / "autograded" / "no_training" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                       as_version=4)
    accuracy = cell(nb, "test_accuracy_target")
    errors = [o for o in accuracy.outputs if o.get("output_type") == "error"]
    assert errors and "below" in errors[0]["evalue"], accuracy.outputs
    # the solution (no file handed in) cleared the same measurement
    assert "test_accuracy_target" not in results["solution"].failed
