"""The Pets lab is a capstone: the student writes the pipeline, and the grade says so.

* In the released notebooks the package is used only for data, figures and checks
  (counted from the code students see).
* Most of the lab's autograded points are for the transfer-learning skills
  (pipeline, model, training, learning rate, fine-tuning, accuracy of the student's
  own pipeline), not for bookkeeping.
* A submission with one deliberate, realistic mistake loses exactly the points of the
  task it breaks, through real `nbgrader autograde` (the breakages are written next to
  each notebook's solution: tests/pets_breakages_torch.py, tests/pets_breakages_tf.py).
"""
import ast
import copy
import importlib
import re

import nbformat
import pytest

from course import ROOT, nbgrader_meta, read
from tlcourse.course import grade as grading
from tlcourse.course.tampering import dotted_name
from tlcourse.profiles import get_profile

ASSIGNMENT = "pets_lab"
NOTEBOOKS = {"torch": "OxfordPetsPyTorch", "tf": "OxfordPetsTF"}
EDITIONS = (ROOT, ROOT / "editions" / "hi")

# What the lab may still ask of the package in code students see, by purpose
# (a name ending in "*" allows every name with that prefix).
ALLOWED = {
    "data": ("tlcourse.get_profile", "datasets.oxford_pets", "pets.image_names",
             "pets.class_species", "pets.at_size", "tlc.pretrained"),
    "figures": ("train.plot_history", "train.plot_lr_finder", "pets.plot_confusion",
                "pets.show_wrong_predictions", "pets.report", "pets.species_confusions"),
    "checks": ("exercises.own_code", "exercises.reference", "feedback.check_returned",
               "pets.check_*", "pets.min_top1", "quiz.*"),
}
# the transfer-learning skills of issue 26, items 1-6
SKILLS = ("test_pipeline", "test_model", "test_training", "test_lr_finder", "test_finetune",
          "test_accuracy_target")


def package_names(tree: ast.AST) -> set[str]:
    """The names a cell binds to the package (``import tlcourse``, ``from tlcourse
    import torch as tlc``, ``from tlcourse.pets import x``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names
                      if a.name.split(".")[0] == "tlcourse"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tlcourse":
            names |= {a.asname or a.name for a in node.names}
    return names


def package_uses(nb) -> list[str]:
    """Every package name used in the notebook's code cells, as written
    (``tlc.pretrained``), the longest dotted chain of each use.  A reference answer
    a test takes through ``exercises.reference(...)`` is that check's business."""
    cells = [ast.parse(c.source) for c in nb.cells if c.cell_type == "code"]
    roots = set().union(*(package_names(t) for t in cells))
    uses = []
    for tree in cells:
        inner = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                inner.add(id(node.value))
            if isinstance(node, ast.Call) and dotted_name(node.func) == "exercises.reference":
                inner |= {id(n) for arg in node.args for n in ast.walk(arg)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in inner:
                name = dotted_name(node)
                if name and name.split(".")[0] in roots and "." in name:
                    uses.append(name)
    return uses


def purpose(name: str) -> str | None:
    for what, allowed in ALLOWED.items():
        if any(name == a or (a.endswith("*") and name.startswith(a[:-1])) for a in allowed):
            return what
    return None


@pytest.mark.parametrize("edition", EDITIONS, ids=["en", "hi"])
@pytest.mark.parametrize("framework", sorted(NOTEBOOKS))
def test_released_lab_uses_the_package_only_for_data_figures_and_checks(framework, edition):
    nb = read(edition / "release" / ASSIGNMENT / f"{NOTEBOOKS[framework]}.ipynb")
    uses = package_uses(nb)
    other = sorted({u for u in uses if purpose(u) is None})
    assert not other, f"the student writes these in {framework}'s own code, not the package: {other}"
    counted = {what: sum(purpose(u) == what for u in uses) for what in ALLOWED}
    print(framework, edition.name, counted)
    assert counted["data"] and counted["checks"], counted


def test_the_counter_sees_package_calls():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from tlcourse import torch as tlc\nfrom tlcourse import exercises, pets\n"
        "h = tlc.fit(m, tlc.make_loader(s, p, train=True))\nf = tlc.pets.unfreeze_top\n"
        "pets.check_split(a, b, c, 0.2)\nr = exercises.reference(pets.top_k_accuracy)")])
    assert sorted(package_uses(nb)) == ["exercises.reference", "pets.check_split", "tlc.fit",
                                        "tlc.make_loader", "tlc.pets.unfreeze_top"]
    assert [purpose(u) for u in sorted(package_uses(nb))] == ["checks", "checks", None, None, None]


@pytest.mark.parametrize("framework", sorted(NOTEBOOKS))
def test_most_autograded_points_are_for_the_transfer_learning_skills(framework):
    nb = read(ROOT / "source" / ASSIGNMENT / f"{NOTEBOOKS[framework]}.ipynb")
    points = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c).get("points", 0) for c in nb.cells
              if c.cell_type == "code" and nbgrader_meta(c).get("grade")}
    assert set(SKILLS) <= set(points), sorted(set(SKILLS) - set(points))
    skills = sum(points[g] for g in SKILLS)
    assert skills >= 0.6 * sum(points.values()), (skills, sum(points.values()), points)


# --------------------------------------------------------------------------
# one realistic mistake costs exactly its task's points
# --------------------------------------------------------------------------
def breakages(framework: str) -> dict:
    return importlib.import_module(f"pets_breakages_{framework}").BREAKAGES


def broken(framework: str, name: str, folder):
    """The solution notebook with breakage ``name`` applied (exactly once)."""
    solution_id, old, new, _ = breakages(framework)[name]
    nb = read(ROOT / "notebooks" / ASSIGNMENT / f"{NOTEBOOKS[framework]}.ipynb")
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == solution_id)
    assert cell.source.count(old) == 1, f"{name}: {old!r} is not once in {solution_id}"
    cell.source = cell.source.replace(old, new)
    path = folder / name / f"{NOTEBOOKS[framework]}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module", params=sorted(NOTEBOOKS))
def graded_breakages(request, tmp_path_factory):
    framework = request.param
    tmp = tmp_path_factory.mktemp(f"breakages-{framework}")
    course = grading.make_course(ROOT, tmp / "course", [ASSIGNMENT])
    for name in breakages(framework):
        grading.submit(course, name, ASSIGNMENT, [broken(framework, name, tmp / "work")])
    results = grading.grade_class(course, ASSIGNMENT, cell_timeout=get_profile("smoke").grading_cell_timeout,
                                  extra_env={"TLCOURSE_PROFILE": "smoke"}, workers=2)
    return framework, {r.student: r for r in results}


@pytest.mark.grading
def test_each_breakage_loses_exactly_the_points_of_its_task(graded_breakages):
    framework, results = graded_breakages
    table = breakages(framework)
    assert set(table) == {"augment_validation", "batchnorm_trains", "best_not_restored", "lr_100x"}
    nb = read(ROOT / "source" / ASSIGNMENT / f"{NOTEBOOKS[framework]}.ipynb")
    points = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c).get("points", 0) for c in nb.cells
              if c.cell_type == "code" and nbgrader_meta(c).get("grade")}
    for name, (_, _, _, lost) in table.items():
        r = results[name]
        assert sorted(r.failed) == [lost], f"{framework} {name}: failed {r.failed}, expected only {lost}; {r}"
        assert r.score == r.max_score - points[lost], r
