"""Graded exercises only the student's own code can pass (``tlcourse.exercises``).

Unit tests of the guard run student and test code the way a kernel does (cells
compiled under their own file names, one shared namespace).  The end-to-end
test is built from the table: for every assignment, a submission whose every
declared student function delegates to the package in one line goes through
the real nbgrader autograde and must score 0 on each exercise, failing with
the guard's message, while every cell that is not a test still runs.
"""
import ast
import re
import textwrap

import nbformat
import numpy as np
import pytest

from course import ROOT, assignments, nbgrader_meta, read, source_notebooks
from tlcourse import contract, datasets, exercises, pets, quiz
from tlcourse.course import grade as grading

STUDENT_CELL = "/tmp/ipykernel_0/student_cell.py"   # where a kernel compiles cells: not a package
TEST_CELL = "/tmp/ipykernel_0/test_cell.py"


def notebook_namespace(student_code: str) -> dict:
    """A kernel's namespace after running ``student_code`` as a cell."""
    ns = {"__name__": "__main__", "pets": pets, "datasets": datasets, "exercises": exercises,
          "np": np}
    exec(compile(textwrap.dedent(student_code), STUDENT_CELL, "exec"), ns)
    return ns


def run_test_cell(ns: dict, code: str) -> None:
    exec(compile(textwrap.dedent(code), TEST_CELL, "exec"), ns)


SCORES = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
TOP_K_TEST = """
with exercises.own_code("test_top_k"):
    assert top_k_accuracy(SCORES, [2, 0], 2) == 1.0
"""


def test_delegating_to_the_reference_works_outside_and_is_refused_inside():
    ns = notebook_namespace("""
        def top_k_accuracy(scores, labels, k=1):
            return pets.top_k_accuracy(scores, labels, k)
    """)
    ns["SCORES"] = SCORES
    assert ns["top_k_accuracy"](SCORES, [2, 0], 2) == 1.0       # a working answer, unguarded
    with pytest.raises(exercises.NotOwnCode,
                       match=r"test_top_k asks for your own implementation of top_k_accuracy: "
                             r"it may not use tlcourse\.pets\.top_k_accuracy"):
        run_test_cell(ns, TOP_K_TEST)
    assert ns["top_k_accuracy"](SCORES, [2, 0], 2) == 1.0       # guard gone after the block


COPY_EDITED = '''


def top_k_accuracy(s, y, k=1):
    """My own (not really): the package's code with its texts and local names changed."""
    s = np.asarray(s)
    y = np.asarray(y)
    if s.ndim != 2:
        raise ValueError(f"bad scores {s.shape}")
    if y.ndim != 1 or len(y) != len(s):
        raise ValueError(f"bad labels {y.shape} for {s.shape}")
    if len(y) == 0:
        raise ValueError("empty")
    if not (isinstance(k, (int, np.integer)) and not isinstance(k, bool)) or k < 1:
        raise ValueError(f"bad k {k!r}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 \\
            or y.max() >= s.shape[1]:
        raise ValueError(f"labels out of [0, {s.shape[1]})")
    t = s[np.arange(len(y)), y][:, None]
    c = np.arange(s.shape[1])[None, :]

    r = np.sum((s > t) | ((s == t) & (c < y[:, None])), axis=1)
    return float(np.mean(r < k))
'''


@pytest.mark.parametrize("student_code", [
    # the function object captured before the test, under another name
    """
    from tlcourse.pets import top_k_accuracy as reference_top_k
    def top_k_accuracy(scores, labels, k=1):
        return reference_top_k(scores, labels, k)
    """,
    # through a helper of the student's own
    """
    def helper(*args):
        return pets.top_k_accuracy(*args)
    def top_k_accuracy(scores, labels, k=1):
        return helper(scores, labels, k)
    """,
    # the reference itself, or a partial of it, under the student's name
    "top_k_accuracy = pets.top_k_accuracy",
    "import functools\ntop_k_accuracy = functools.partial(pets.top_k_accuracy)",
    # a lambda; code compiled elsewhere; another thread
    "top_k_accuracy = lambda s, y, k=1: pets.top_k_accuracy(s, y, k)",
    """
    ns = {"pets": pets}
    exec("def top_k_accuracy(s, y, k=1): return pets.top_k_accuracy(s, y, k)", ns)
    top_k_accuracy = ns["top_k_accuracy"]
    """,
    """
    from concurrent.futures import ThreadPoolExecutor
    def top_k_accuracy(scores, labels, k=1):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(pets.top_k_accuracy, scores, labels, k).result()
    """,
    # the decorator's functools attribute
    """
    def top_k_accuracy(scores, labels, k=1):
        return pets.top_k_accuracy.__wrapped__(scores, labels, k)
    """,
    # a new function object around the answer's code object
    """
    import types
    top_k_accuracy = types.FunctionType(pets.top_k_accuracy.__wrapped__.__code__, vars(pets))
    """,
    # a second import of the module from its file
    """
    import importlib.util
    spec = importlib.util.spec_from_file_location("my_pets", pets.__file__)
    my_pets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(my_pets)
    def top_k_accuracy(scores, labels, k=1):
        return my_pets.top_k_accuracy.__wrapped__(scores, labels, k)
    """,
    # the source copied into a cell (here by inspect; by hand it is the same code)
    """
    import inspect
    source = inspect.getsource(pets.top_k_accuracy.__wrapped__)
    exec(source[source.index("def "):], globals())    # without the decorator line
    """,
    # the copy edited: docstring, messages and local names changed, lines moved
    COPY_EDITED,
    # the refusal caught, and the answer tried again
    """
    def top_k_accuracy(scores, labels, k=1):
        for attempt in range(2):
            try:
                return pets.top_k_accuracy.__wrapped__(scores, labels, k)
            except Exception:
                pass
        return 1.0
    """,
])
def test_every_route_to_the_reference_is_refused(student_code):
    ns = notebook_namespace(student_code)
    ns["SCORES"] = SCORES
    with pytest.raises(exercises.NotOwnCode, match="own implementation of top_k_accuracy"):
        run_test_cell(ns, TOP_K_TEST)


def test_own_code_passes_and_the_test_still_gets_the_reference():
    ns = notebook_namespace("""
        def top_k_accuracy(scores, labels, k=1):
            top = np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]
            return float(np.mean((top == np.asarray(labels)[:, None]).any(axis=1)))
        def make_label_map(filenames):
            breeds = sorted({f.rsplit("_", 1)[0] for f in filenames}, key=str.lower)
            return {b: i for i, b in enumerate(breeds)}
    """)
    ns["SCORES"] = SCORES
    run_test_cell(ns, """
        with exercises.own_code("test_top_k"):
            want = exercises.reference(pets.top_k_accuracy)(SCORES, [2, 0], 1)
            assert top_k_accuracy(SCORES, [2, 0], 1) == want == 0.5
        with exercises.own_code("test_label_map"):
            files = ["beagle_1.jpg", "Abyssinian_2.jpg"]
            pets.check_label_map(make_label_map(files), files)   # a package check may use it
    """)


def test_the_test_code_must_ask_for_the_reference_and_the_student_may_not():
    ns = notebook_namespace("""
        def top_k_accuracy(scores, labels, k=1):
            return REFERENCE(scores, labels, k)           # the test's handle, found in globals
    """)
    ns["SCORES"] = SCORES
    with pytest.raises(exercises.NotOwnCode, match="test code gets it through exercises.reference"):
        run_test_cell(ns, """
            with exercises.own_code("test_top_k"):
                pets.top_k_accuracy(SCORES, [2, 0], 1)
        """)
    with pytest.raises(exercises.NotOwnCode, match="own implementation of top_k_accuracy"):
        run_test_cell(ns, """
            with exercises.own_code("test_top_k"):
                REFERENCE = exercises.reference(pets.top_k_accuracy)
                top_k_accuracy(SCORES, [2, 0], 1)
        """)
    with pytest.raises(exercises.NotOwnCode, match="belongs to a finished test"):
        ns["REFERENCE"](SCORES, [2, 0], 1)
    with pytest.raises(RuntimeError, match="inside `with exercises.own_code"):
        exercises.reference(pets.top_k_accuracy)


def test_functions_without_the_decorator_are_guarded_for_the_block_and_restored():
    original = datasets.stratified_split
    assert not hasattr(original, "__tlcourse_reference__")   # an undecorated package function
    ns = notebook_namespace("""
        from tlcourse.datasets import stratified_split as split_from_the_package
        def stratified_split(labels, val_fraction, seed=0):
            return split_from_the_package(labels, (1 - val_fraction, val_fraction), seed)
    """)
    labels = np.repeat(np.arange(3), 10)
    ns["LABELS"] = labels
    assert len(ns["stratified_split"](labels, 0.2)[1]) == 6
    with pytest.raises(exercises.NotOwnCode, match="tlcourse.datasets.stratified_split"):
        run_test_cell(ns, """
            with exercises.own_code("test_splits"):
                stratified_split(LABELS, 0.2)
        """)
    assert datasets.stratified_split is original and ns["split_from_the_package"] is original
    with pytest.raises(exercises.NotOwnCode, match=r"\(stratified_split is it\)"):
        ns_alias = notebook_namespace("stratified_split = datasets.stratified_split")
        run_test_cell(ns_alias, 'with exercises.own_code("test_splits"):\n    pass')
    assert datasets.stratified_split is original


def test_usage_errors_name_the_value():
    with pytest.raises(KeyError, match="no exercise 'test_nothing'.*declared: test_total_variation"):
        exercises.own_code("test_nothing")
    ns = notebook_namespace("")
    with pytest.raises(RuntimeError, match=r"own_code\('test_splits'\) inside own_code\('test_top_k'\)"):
        run_test_cell(ns, """
            with exercises.own_code("test_top_k"):
                with exercises.own_code("test_splits"):
                    pass
        """)
    assert exercises._active is None


# --------------------------------------------------------------------------
# the table agrees with the notebooks
# --------------------------------------------------------------------------
def cells_by_grade_id(nb) -> dict:
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def adapter_offers(dotted: str) -> bool:
    """Whether both adapters offer ``dotted`` (``tlc.<dotted>``), by the contract they are held to."""
    first, _, rest = dotted.partition(".")
    if rest:
        return rest in contract.SUBMODULES.get(first, ())
    return any(first in names for names in contract.PUBLIC_API.values())


def test_every_graded_test_is_declared_and_every_declaration_is_real():
    declared = set(exercises.EXERCISES) | set(exercises.NOTHING_TO_FORBID)
    for path in source_notebooks():
        cells = cells_by_grade_id(read(path))
        graded = {g for g, c in cells.items() if c.cell_type == "code" and nbgrader_meta(c).get("grade")
                  and not quiz.is_quiz(g)}   # a knowledge check's answer is a value, not a function
        assert graded <= declared, f"{path.name}: declare {sorted(graded - declared)} in tlcourse/exercises.py"
        for ex in exercises.EXERCISES.values():
            if ex.assignment != path.parent.name:
                continue
            assert ex.grade_id in graded, f"{path.name} has no graded test cell {ex.grade_id}"
            framework = framework_of(read(path))
            if ex.solution is None:
                continue
            defined = {n.name for n in ast.parse(cells[ex.solution].source).body
                       if isinstance(n, ast.FunctionDef)}
            mine = {f for f in ex.delegations if ex.delegation(f, framework)}
            assert mine and mine <= defined, f"{path.name}: {ex.solution} defines {defined}, not {mine}"
    for ex in exercises.EXERCISES.values():
        defined = {n.name for path in source_notebooks() if path.parent.name == ex.assignment
                   for c in read(path).cells if c.cell_type == "code"
                   for n in ast.parse(c.source).body if isinstance(n, ast.FunctionDef)}
        assert set(ex.runs) <= defined, f"{ex.grade_id} runs {sorted(set(ex.runs) - defined)}: no notebook defines them"
        assert ex.forbids, f"{ex.grade_id} forbids nothing: list it in NOTHING_TO_FORBID"
        for name in ex.forbids:
            if name.startswith(exercises.ADAPTER):
                assert adapter_offers(name[len(exercises.ADAPTER):]), name
            else:
                assert exercises.resolve(name), name


# --------------------------------------------------------------------------
# end to end: the real nbgrader autograde
# --------------------------------------------------------------------------
def framework_of(nb) -> str:
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    found = set(re.findall(r"from tlcourse import (\w+) as tlc", code))
    assert len(found) == 1, f"one framework adapter imported as tlc, found {found}"
    return found.pop()


def delegate(source: str, function: str, body: str) -> str:
    """``source`` with the body of ``function`` (after its docstring) replaced by ``body``."""
    node = next(n for n in ast.parse(source).body
                if isinstance(n, ast.FunctionDef) and n.name == function)
    statements = node.body
    if isinstance(statements[0], ast.Expr) and isinstance(statements[0].value, ast.Constant) \
            and len(statements) > 1:
        statements = statements[1:]
    lines = source.splitlines()
    first, last = statements[0].lineno - 1, node.end_lineno
    indent = re.match(r"\s*", lines[first]).group()
    return "\n".join(lines[:first] + [indent + body] + lines[last:])


# Other routes to the package's answer than calling it: a helper ``_route`` (put at the
# top of each solution cell) turns the answer the delegation calls into another object
# that runs the same code.  ``exercises.own_code`` must refuse each one.
ROUTES = {
    "call": "",
    "wrapped": """
def _route(f):
    import inspect
    return inspect.unwrap(f)      # the decorator's functools attribute
""",
    "new_function": """
def _route(f):
    import inspect, types
    f = inspect.unwrap(f)         # a new function object around the answer's code
    return types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__,
                              f.__closure__)
""",
    "reimport": """
def _route(f):
    import importlib.util, inspect, sys
    f = inspect.unwrap(f)         # its module imported again from its file
    spec = importlib.util.spec_from_file_location(f.__module__ + "_again", inspect.getfile(f))
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:      # (the importlib recipe: dataclasses look it up)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return inspect.unwrap(getattr(module, f.__name__))
""",
    "copied": """
def _route(f):
    import inspect, textwrap
    f = inspect.unwrap(f)         # its source copied and run as the student's own
    source = textwrap.dedent(inspect.getsource(f))
    namespace = dict(f.__globals__)
    exec(source[source.index("def "):], namespace)
    return namespace[f.__name__]
""",
}


# what the refusal says for each route
ROUTE_NAMED = {"call": "the package's answer", "wrapped": "reached through another object",
               "new_function": "reached through another object",
               "reimport": "from a second import of its module", "copied": "a copy of its code"}


def routed(body: str, forbids, route: str) -> str:
    """``body`` with each call of a forbidden answer going through ``_route``."""
    if route == "call":
        return body
    for name in forbids:
        shown = name if name.startswith(exercises.ADAPTER) else ".".join(name.split(".")[-2:])
        body = re.sub(rf"(?<![\w.])({re.escape(shown)})\(", r"_route(\1)(", body)
    return body


def delegating_notebook(path, tmp_path, route="call"):
    """The solution notebook with every declared student function delegating to the
    package (through ``route``)."""
    nb = read(path)
    framework = framework_of(nb)
    cells = cells_by_grade_id(nb)
    for ex in exercises.EXERCISES.values():
        if ex.assignment == path.parent.name:
            if ex.solution is None:     # it runs functions other exercises delegate
                continue
            cell = cells[ex.solution]
            for function in ex.delegations:
                if ex.delegation(function, framework) is None:
                    continue
                body = routed(ex.delegation(function, framework), ex.forbids, route)
                assert route == "call" or "_route(" in body, (ex.grade_id, body)
                cell.source = delegate(cell.source, function, body)
            cell.source = ROUTES[route] + "\n" + cell.source
    out = tmp_path / path.name
    nbformat.write(nb, out)
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """One scratch course with every assignment generated (shared by the parametrized runs)."""
    return grading.make_course(ROOT, tmp_path_factory.mktemp("exercises") / "course", assignments())


def guard_errors(notebook_path) -> dict:
    """{grade_id: the error its cell raised} in an autograded notebook (None: a cell
    that is not a test)."""
    out = {}
    for cell in read(notebook_path).cells:
        meta = nbgrader_meta(cell)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                key = meta["grade_id"] if meta.get("grade") else None
                out.setdefault(key, f"{output['ename']}: {output['evalue']}")
    return out


@pytest.mark.grading
@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("assignment", sorted({e.assignment for e in exercises.EXERCISES.values()}))
def test_one_line_delegation_to_the_package_scores_zero(assignment, route, course, tmp_path):
    student = f"delegating_{route}"
    solutions = sorted((ROOT / "notebooks" / assignment).glob("*.ipynb"))
    if route != "call":     # the other routes on the PyTorch notebook: the same guard, half the time
        solutions = [p for p in solutions if framework_of(read(p)) == "torch"]
    grading.submit(course, student, assignment,
                   [delegating_notebook(p, tmp_path, route) for p in solutions])
    proc = grading.autograde(course, assignment, student=student)
    assert proc.returncode == 0, proc.stderr[-3000:]

    guarded = {e.grade_id: e for e in exercises.EXERCISES.values() if e.assignment == assignment}
    handed_in = {p.stem for p in solutions}
    auto = [s for s in grading.scores(course, assignment) if s.student == student and s.autograded
            and s.notebook in handed_in]
    assert {s.notebook for s in auto} == handed_in
    earned = [(s.notebook, s.grade_id, s.score) for s in auto if s.grade_id in guarded and s.score]
    assert not earned, f"delegating to the package earned points (the test cell needs " \
                       f"`with exercises.own_code(<grade_id>):` around its checks): {earned}"
    for path in solutions:
        errors = guard_errors(course / "autograded" / student / assignment / path.name)
        assert None not in errors, f"{path.name}: a cell that is not a test failed: {errors[None]}"
        for grade_id, ex in guarded.items():
            assert errors.get(grade_id, "").startswith(
                f"NotOwnCode: {grade_id} asks for your own implementation of"), \
                f"{path.name} {grade_id} failed for another reason: {errors.get(grade_id)}"
            assert ROUTE_NAMED[route] in errors[grade_id], (route, errors[grade_id])


def test_a_short_answer_written_like_the_package_is_the_students_own():
    """Below COPY_MIN_INSTRUCTIONS, the package's lines are what a student writes anyway."""
    ns = notebook_namespace("""
        from pathlib import Path
        def read_split_list(path):
            rows = []
            for line in Path(path).read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    image_id, class_id = line.split()[:2]
                    rows.append((image_id, int(class_id) - 1))
            return rows
    """)
    short = exercises.fingerprint(ns["read_split_list"].__code__)
    assert short == exercises.fingerprint(pets.read_list.__wrapped__.__code__)
    assert len(short[-1]) < exercises.COPY_MIN_INSTRUCTIONS
    run_test_cell(ns, """
        import tempfile, os
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("# header\\nAbyssinian_1 1 1 1\\n")
        with exercises.own_code("test_splits"):
            assert read_split_list(f.name) == [("Abyssinian_1", 0)]
        os.unlink(f.name)
    """)


def test_a_short_answer_copied_verbatim_is_refused():
    ns = notebook_namespace("""
        import inspect
        source = inspect.getsource(pets.read_list.__wrapped__)
        exec(source[source.index("def "):], globals())
        read_split_list = read_list
    """)
    assert len(exercises.fingerprint(ns["read_list"].__code__)[-1]) < exercises.COPY_MIN_INSTRUCTIONS
    with pytest.raises(exercises.NotOwnCode, match=r"tlcourse\.pets\.read_list.*\(a copy of its code\)"):
        run_test_cell(ns, """
            with exercises.own_code("test_splits"):
                read_split_list(pets.__file__)
        """)
