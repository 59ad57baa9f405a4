"""The knowledge checks in the notebooks (graded cells ``quiz_*``): each question's
hidden test accepts every form of the right answer and nothing else.

No notebook runs: each question's cells are taken from the source notebooks and
executed here with different answers bound to the student's variable.  The
right answer is the one the solution cell assigns; the forms tried are derived
from it (a number as a fraction, a decimal, a percentage, with thousands
separators; a letter in upper case or in brackets), and so are the wrong ones.
"""
import contextlib
import io
import re
import textwrap
from fractions import Fraction

import pytest

from course import nbgrader_meta, read, source_notebooks
from tlcourse import quiz


def answered_name(test_cell) -> str:
    found = re.search(r"quiz\.answered\((\w+),", test_cell.source)
    assert found, f"{nbgrader_meta(test_cell)['grade_id']}: call quiz.answered(<variable>, ...) first"
    return found.group(1)


def questions():
    """(notebook path, grade id, {"options": cell or None, "answer": cell, "test": cell}): for
    each quiz test cell, the nearest solution cell before it that assigns its variable, and for
    multiple choice the nearest cell before it that prints its options (``quiz.ask("<grade id>", ...)``)."""
    found = []
    for path in source_notebooks():
        cells = read(path).cells
        for k, cell in enumerate(cells):
            meta = nbgrader_meta(cell)
            if not (quiz.is_quiz(meta.get("grade_id", "")) and meta.get("grade")):
                continue
            before = cells[:k][::-1]
            name = answered_name(cell)
            answer = next(c for c in before if nbgrader_meta(c).get("solution")
                          and re.search(rf"^{name}\s*=", c.source, re.M))
            options = next((c for c in before if c.cell_type == "code" and re.search(
                rf"quiz\.ask\(\s*['\"]{meta['grade_id']}['\"]", c.source)), None)
            found.append((path, meta["grade_id"], {"options": options or None, "answer": answer,
                                                   "test": cell}))
    return found


QUESTIONS = questions()
IDS = [f"{p.stem}:{g}" for p, g, _ in QUESTIONS]


def asked(cells) -> tuple[dict, object, str, int]:
    """(namespace after the options cell, the solution's answer, the variable, options printed)."""
    ns = {"quiz": quiz, "Fraction": Fraction}   # what the notebooks import for their hidden tests
    printed = io.StringIO()
    if cells["options"] is not None:
        with contextlib.redirect_stdout(printed):
            exec(cells["options"].source, ns)
    solved = dict(ns)
    exec(cells["answer"].source, solved)
    name = answered_name(cells["test"])
    return ns, solved[name], name, len(printed.getvalue().splitlines())


def diagnostic(cells) -> bool:
    return "quiz.reveal(" in cells["test"].source


def visible(test_cell) -> str:
    """The test cell as the student version has it: hidden tests removed."""
    return re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", test_cell.source, flags=re.S)


def passes(cells, ns, name, answer, source=None) -> bool:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            exec(source or cells["test"].source, dict(ns, **{name: answer}))
        except AssertionError:
            return False
    return True


def well_formed(cells, ns, name, answer) -> bool:
    """Whether the visible line (``quiz.answered``) takes the answer as of the right kind."""
    line = visible(cells["test"]).splitlines()[0]
    assert line.startswith("quiz.answered("), line
    if answer is None:
        return False
    try:
        exec(line, dict(ns, **{name: answer}))
    except quiz.WrongForm:
        return False
    return True


@pytest.fixture
def grading(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")


@pytest.fixture
def interactive(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)


def malformed(answer, n_options: int) -> list:
    """Answers of the wrong kind: refused by the visible line, whatever the right answer."""
    if isinstance(answer, str) and re.fullmatch(r"[a-h]", answer.strip().lower()):
        return ["", 1, "ab", quiz.LETTERS[n_options], [answer], "the answer"]
    return ["the answer", [answer], "", True, "12 weights"]


def forms(answer, n_options: int, tolerant: bool) -> tuple[list, list]:
    """(forms that mean ``answer``, forms that don't)."""
    if isinstance(answer, str) and re.fullmatch(r"[a-h]", answer.strip().lower()):
        mark = answer.strip().lower()
        others = [c for c in quiz.LETTERS[:n_options] if c != mark]
        return [mark, mark.upper(), f"({mark})", f" {mark}) "], others + [None, "", 1]
    value = quiz.as_number(answer)
    exact = Fraction(value)
    right = [answer, exact, float(exact), f"{exact.numerator}/{exact.denominator}",
             f"{float(exact) * 100!r}%"]
    if exact.denominator == 1:
        right += [int(exact), f"{int(exact):,}", f"{int(exact)}.0"]
    wrong = [float(exact) + 1, float(exact) * 1.01, -float(exact), None, "the answer", [answer]]
    three_places = round(float(exact), 3)
    if three_places != exact:   # a rounded decimal counts only where the question says so
        (right if tolerant else wrong).append(f"{three_places:.3f}")
    return right, wrong


def test_every_assignment_with_a_knowledge_check_has_3_to_5_questions_per_check():
    parts = {}
    for path, grade_id, _ in QUESTIONS:
        parts.setdefault((path.name, grade_id.rsplit("_", 1)[0]), []).append(grade_id)
    assert {p for _, p in parts} >= {"quiz_tl_pre", "quiz_tl_post", "quiz_pets_post"}
    for (notebook, part), ids in parts.items():
        assert 3 <= len(ids) <= 5, f"{notebook} {part}: {ids}"


@pytest.mark.parametrize("path,grade_id,cells", QUESTIONS, ids=IDS)
def test_hidden_test_accepts_every_form_of_the_answer_and_nothing_else(path, grade_id, cells, grading):
    assert nbgrader_meta(cells["test"])["points"] == 1
    ns, answer, name, n_options = asked(cells)
    tolerant = "abs_tol" in cells["test"].source
    right, wrong = forms(answer, n_options, tolerant)
    accepted = [f for f in right if passes(cells, ns, name, f)]
    assert accepted == right, f"{grade_id}: refused {[f for f in right if f not in accepted]!r}"
    well_formed_wrong = [f for f in wrong if well_formed(cells, ns, name, f)]
    let_through = [f for f in wrong if f is not None and passes(cells, ns, name, f)]
    if diagnostic(cells):   # points for answering: a wrong answer of the right form counts
        assert let_through == well_formed_wrong, f"{grade_id}: a diagnostic counts every well-formed answer"
    else:
        assert not let_through, f"{grade_id}: accepted the wrong answers {let_through!r}"
    bad = [f for f in malformed(answer, n_options) if passes(cells, ns, name, f)]
    assert not bad, f"{grade_id}: accepted the malformed answers {bad!r}"
    with pytest.raises(quiz.NotAnswered, match=f"{name} is still None"):
        exec(cells["test"].source, dict(ns, **{name: None}))


@pytest.mark.parametrize("path,grade_id,cells", QUESTIONS, ids=IDS)
def test_the_visible_line_refuses_a_malformed_answer_at_once_in_one_line(path, grade_id, cells, interactive):
    """What Validate and a student running the cell see: the release version's test cell."""
    ns, answer, name, n_options = asked(cells)
    for form in malformed(answer, n_options):
        with pytest.raises(quiz.WrongForm) as refused:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(visible(cells["test"]), dict(ns, **{name: form}))
        [line] = refused.value._render_traceback_()
        assert line.startswith(f"WrongForm: {name} = {form!r}: give "), line


@pytest.mark.parametrize("path,grade_id,cells", QUESTIONS, ids=IDS)
def test_unanswered_runs_on_interactively_and_scores_nothing(path, grade_id, cells, interactive):
    ns, answer, name, n_options = asked(cells)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(visible(cells["test"]), dict(ns, **{name: None}))   # the student's cell runs on
    assert printed.getvalue().splitlines() == [
        f"{name}: not answered yet \N{EM DASH} answer it, or read on; it is graded when you submit"]
    assert not passes(cells, ns, name, None), f"{grade_id}: the hidden test passes an unanswered question"


@pytest.mark.parametrize("path,grade_id,cells", [q for q in QUESTIONS if diagnostic(q[2])],
                         ids=[i for i, q in zip(IDS, QUESTIONS) if diagnostic(q[2])])
def test_a_diagnostic_says_right_or_not_quite_at_once(path, grade_id, cells, interactive):
    ns, answer, name, n_options = asked(cells)
    assert grade_id.startswith("quiz_tl_pre_")
    right, wrong = forms(answer, n_options, tolerant=False)
    well_formed_wrong = [f for f in wrong if well_formed(cells, ns, name, f)]
    assert well_formed_wrong
    shown = visible(cells["test"])
    for form, verdict in [(f, "right") for f in right] + [(f, "not quite") for f in well_formed_wrong]:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(shown, dict(ns, **{name: form}))
        [line] = printed.getvalue().splitlines()
        assert line.startswith(f"{verdict}: "), f"{grade_id} {form!r}: {line!r}"
        why = line.split(": ", 1)[1]
        assert str(answer) not in why.split() and f'"{answer}"' not in why, f"{grade_id}: the explanation states the answer"
    assert re.search(r"digest=['\"][0-9a-f]{64}['\"]", shown)
    [kept] = re.findall(r"^(quiz\.same_\w+\(.*\))$", cells["test"].source, re.M)
    assert eval(kept, dict(ns, **{name: answer})), \
        f"{grade_id}: the hidden test's answer ({kept}) is not the solution's, which the digest says is right"
    tree_text = textwrap.dedent(shown)
    assert str(answer) not in re.findall(r"['\"]([^'\"]*)['\"]", tree_text), f"{grade_id}: the visible cell holds the answer"


@pytest.mark.parametrize("path,grade_id,cells", [q for q in QUESTIONS if q[2]["options"]],
                         ids=[i for i, q in zip(IDS, QUESTIONS) if q[2]["options"]])
def test_multiple_choice_prints_its_options_and_only_one_letter_counts(path, grade_id, cells, grading):
    ns, answer, name, n_options = asked(cells)
    assert n_options >= 3, f"{grade_id}: print the options with quiz.ask"
    counted = [c for c in quiz.LETTERS[:n_options] if passes(cells, ns, name, c)]
    if diagnostic(cells):   # points for answering: every printed letter counts, no other
        assert counted == list(quiz.LETTERS[:n_options]), f"{grade_id}: letters counted {counted}"
        assert not passes(cells, ns, name, quiz.LETTERS[n_options])
    else:
        assert counted == [answer], f"{grade_id}: letters counted {counted}, the solution says {answer!r}"


def test_both_frameworks_ask_the_same_questions_with_the_same_answers():
    by_notebook = {}
    for path, grade_id, cells in QUESTIONS:
        by_notebook.setdefault(path, {})[grade_id] = (
            cells["test"].source, asked(cells)[1], cells["options"] and cells["options"].source)
    for path, checks in by_notebook.items():
        twins = [p for p in by_notebook if p.parent == path.parent and p != path]
        assert twins, f"{path.name} has a knowledge check its other-framework twin lacks"
        assert checks == by_notebook[twins[0]], f"{path.name} and {twins[0].name} differ"


def test_the_release_answer_cell_is_the_placeholder_line_and_exercises_still_raise():
    """nbgrader's stub (``raise NotImplementedError()``) would stop a run at the first unanswered
    question: a knowledge check's answer cell keeps its ``q = None`` line only
    (tlcourse/course/answer_cells.py); an exercise's solution cell still gets the stub."""
    from course import ROOT
    for path, grade_id, cells in QUESTIONS:
        release = read(ROOT / "release" / path.parent.name / path.name)
        answer_id = nbgrader_meta(cells["answer"])["grade_id"]
        [cell] = [c for c in release.cells if nbgrader_meta(c).get("grade_id") == answer_id]
        name = answered_name(cells["test"])
        assert re.fullmatch(rf"{name} = None\s*(#.*)?", cell.source), f"{answer_id}: {cell.source!r}"
    exercises = [c for p in {q[0] for q in QUESTIONS}
                 for c in read(ROOT / "release" / p.parent.name / p.name).cells
                 if nbgrader_meta(c).get("solution") and c.cell_type == "code"
                 and "NotImplementedError" in c.source]
    assert exercises, "the exercises' solution cells keep nbgrader's stub"


def test_keep_placeholder_touches_only_a_quiz_answer_with_the_stub():
    from tlcourse.course.answer_cells import keep_placeholder
    stub = "q1 = None   # your answer\n# YOUR CODE HERE\nraise NotImplementedError()"
    assert keep_placeholder(stub, {"q1"}) == "q1 = None   # your answer"
    assert keep_placeholder(stub, {"q2"}) == stub, "not a knowledge check's variable"
    other = "q1 = None\nq1 = 3"
    assert keep_placeholder(other, {"q1"}) == other, "more than the stub: left alone"
    exercise = "def head():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert keep_placeholder(exercise, {"q1"}) == exercise
