"""The adversarial_cat knowledge check and written answer: each question's hidden test accepts
every correct form of the answer and rejects wrong ones; multiple choice follows the course's
convention; the written answer's prompt survives nbgrader.

The cells are taken from the source notebooks (hidden tests included) and run with different
answers bound, after the cells a student sees (the multiple-choice options); no notebook runs.

Multiple choice: the options live in a locked cell (grade id ``options_adv_<n>``) that assigns
``Q<n>_OPTIONS`` and prints them with ``quiz.ask``; the answer cell holds only the answer
variable; the hidden test names the right letter and never reads the options; the right option
sits where the instructor's seed (``source/quiz_seed.txt``) puts it.
"""
from __future__ import annotations

import contextlib
import io
import json
import random
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tlcourse import quiz

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"torch": ROOT / "source" / "adversarial_cat" / "AdversarialCatPyTorch.ipynb",
             "tf": ROOT / "source" / "adversarial_cat" / "AdversarialCatTF.ipynb"}
SEED = (ROOT / "source" / "quiz_seed.txt").read_text().strip()

# multiple choice: question -> the option the hidden test must accept
RIGHT_OPTION = {2: "exactly 4 grey levels, up or down",
                3: "the chessboard: there every pair of neighbours differs, in the split image only the "
                   "pairs across the middle; the penalty wipes out pixel-scale patterns and favours smooth regions"}

# question -> (answer variable, correct forms, wrong answers); for multiple choice "letter"
# stands for the right letter (in any case or bracket), "other letters" for every other one
QUESTIONS = {
    1: ("q1_grey_levels", [4, "4", 4.0, " 4 ", np.int64(4), "8/2"], [5, 3, "four", 2, "2/255"]),
    2: ("q2_fgsm_change", ["letter", "LETTER", "(letter)", "letter)"], ["other letters", "", 4]),
    3: ("q3_larger_tv", ["letter", "LETTER", "(letter)", " letter "], ["other letters", "", "chessboard", 2]),
    4: ("q4_map_cells", [64, "64", 64.0, "6.4e1", "64.0", "128/2"], [8, 49, 63, 100, "8 x 8"]),
    5: ("q5_grad_cam_sum", [1, "1", 1.0, "2/2", "100%", Fraction(1)], [0, 2, 0.5, -1]),
}


def cells(path: Path) -> dict:
    return {c["id"]: c for c in json.loads(path.read_text())["cells"]}


def source(cell) -> str:
    return "".join(cell["source"])


def shown(framework: str, n: int) -> tuple[dict, list[str]]:
    """(namespace after the cells a student sees before answering question n, options printed)."""
    nb = cells(NOTEBOOKS[framework])
    ns: dict = {}
    exec(source(nb["knowledge-check-code"]), ns)
    printed = io.StringIO()
    if f"quiz-adv-{n}-options" in nb:
        with contextlib.redirect_stdout(printed):
            exec(source(nb[f"quiz-adv-{n}-options"]), ns)
    exec(source(nb[f"quiz-adv-{n}-answer"]).split("### BEGIN SOLUTION")[0], ns)
    return ns, [line.strip() for line in printed.getvalue().splitlines()]


def run_test_cell(framework: str, n: int, answer) -> bool:
    """Whether quiz_adv_<n>'s test cell passes with ``answer`` bound to the answer variable."""
    ns, _ = shown(framework, n)
    ns[QUESTIONS[n][0]] = answer
    try:
        exec(source(cells(NOTEBOOKS[framework])[f"quiz-adv-{n}-test"]), ns)
    except quiz.WrongForm:     # a malformed answer: refused by the visible line, no point
        return False
    except quiz.NotAnswered:   # the placeholder while grading: the visible check's hint
        raise
    except AssertionError:
        return False
    return True


def right_letter(framework: str, n: int) -> str:
    """The letter quiz.ask printed beside the right option."""
    _, printed = shown(framework, n)
    marks = [line.split(")", 1)[0] for line in printed if line.endswith(RIGHT_OPTION[n])]
    assert len(marks) == 1, f"Q{n}: the right option is printed {len(marks)} times: {printed}"
    return marks[0]


def forms(framework: str, n: int, values) -> list:
    """``values`` with "letter" spelled as the right letter, "other letters" as the others."""
    if n not in RIGHT_OPTION:
        return list(values)
    right = right_letter(framework, n)
    others = [m for m in quiz.LETTERS[:len(shown(framework, n)[1])] if m != right]
    out = []
    for v in values:
        if v == "other letters":
            out += others
        elif isinstance(v, str) and "letter" in v.lower():
            out.append(v.replace("LETTER", right.upper()).replace("letter", right))
        else:
            out.append(v)
    return out


@pytest.mark.parametrize("framework", sorted(NOTEBOOKS))
@pytest.mark.parametrize("n", sorted(QUESTIONS))
def test_hidden_test_accepts_every_correct_form(framework, n):
    for answer in forms(framework, n, QUESTIONS[n][1]):
        assert run_test_cell(framework, n, answer), f"Q{n} rejected the correct answer {answer!r}"


@pytest.mark.parametrize("framework", sorted(NOTEBOOKS))
@pytest.mark.parametrize("n", sorted(QUESTIONS))
def test_hidden_test_rejects_wrong_answers_and_the_placeholder(framework, n, monkeypatch):
    for answer in forms(framework, n, QUESTIONS[n][2]):
        assert not run_test_cell(framework, n, answer), f"Q{n} accepted the wrong answer {answer!r}"
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not run_test_cell(framework, n, None), "run by hand the placeholder prints, grading gives 0"
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(quiz.NotAnswered, match=f"{QUESTIONS[n][0]} is still None"):
        run_test_cell(framework, n, None)


@pytest.mark.parametrize("framework", sorted(NOTEBOOKS))
def test_the_solution_passes_and_the_answer_is_only_in_hidden_tests(framework):
    nb = cells(NOTEBOOKS[framework])
    for n, (var, _, _) in QUESTIONS.items():
        answer_cell, test_cell = source(nb[f"quiz-adv-{n}-answer"]), source(nb[f"quiz-adv-{n}-test"])
        ns: dict = {}
        exec(source(nb["knowledge-check-code"]), ns)
        exec(answer_cell, ns)
        assert run_test_cell(framework, n, ns[var]), f"Q{n}: the solution's own answer fails"
        visible = re.sub(r"### BEGIN HIDDEN TESTS.*### END HIDDEN TESTS", "", test_cell, flags=re.S)
        kind = f'kind="choice", question="quiz_adv_{n}"' if n in RIGHT_OPTION else 'kind="number"'
        assert visible.strip() == f'quiz.answered({var}, "{var}", {kind})', f"Q{n}: the visible test gives away more"
        student = answer_cell.split("### BEGIN SOLUTION")[0]
        assert student.strip().startswith(f"{var} = None") and len(student.strip().splitlines()) == 1, \
            f"Q{n}: the answer cell holds only the answer variable"
        meta = nb[f"quiz-adv-{n}-test"]["metadata"]["nbgrader"]
        assert meta["grade_id"] == f"quiz_adv_{n}" and meta["points"] == 1 and meta["locked"]


@pytest.mark.parametrize("framework", sorted(NOTEBOOKS))
@pytest.mark.parametrize("n", sorted(RIGHT_OPTION))
def test_multiple_choice_convention(framework, n):
    """Options in a locked cell, the letter at the seeded position, named in the hidden test."""
    nb = cells(NOTEBOOKS[framework])
    ids = list(nb)
    options_cell, test_cell = nb[f"quiz-adv-{n}-options"], source(nb[f"quiz-adv-{n}-test"])
    assert ids.index(f"quiz-adv-{n}-options") == ids.index(f"quiz-adv-{n}-answer") - 1
    assert options_cell["metadata"]["nbgrader"] == {
        "grade": False, "grade_id": f"options_adv_{n}", "locked": True, "schema_version": 3,
        "solution": False, "task": False}
    assert f'quiz.ask("quiz_adv_{n}", Q{n}_OPTIONS)' in source(options_cell)
    assert "quiz.ask" not in source(nb[f"quiz-adv-{n}-answer"]), "the options belong in their own cell"
    ns, printed = shown(framework, n)
    options = ns[f"Q{n}_OPTIONS"]
    position = random.Random(f"{SEED}:quiz_adv_{n}").randrange(len(options))
    assert options[position] == RIGHT_OPTION[n], f"Q{n}: the right option belongs at position {position}"
    letter = quiz.LETTERS[position]
    assert right_letter(framework, n) == letter
    assert f'quiz.same_choice({QUESTIONS[n][0]}, "{letter}")' in test_cell
    assert f"Q{n}_OPTIONS" not in test_cell and "quiz.letter" not in test_cell, \
        "the hidden test names the letter; it never reads the options"


@pytest.mark.parametrize("framework", sorted(NOTEBOOKS))
def test_the_written_answer_keeps_its_prompt(framework):
    """nbgrader replaces a markdown solution cell whole: the prompt lives in the cell before it."""
    nb = cells(NOTEBOOKS[framework])
    ids = list(nb)
    answer, prompt = nb["why-noise-works"], nb["why-noise-works-md"]
    assert ids.index("why-noise-works-md") == ids.index("why-noise-works") - 1
    meta = answer["metadata"]["nbgrader"]
    assert meta["grade_id"] == "why_noise_works" and meta["solution"] and meta["grade"]
    assert meta["points"] == 1 and not meta["locked"]
    assert "nbgrader" not in prompt["metadata"] and prompt["cell_type"] == "markdown"
    assert source(prompt).startswith("**Written answer") and "second network" in source(prompt)
    text = source(answer)
    assert text.startswith("### BEGIN SOLUTION") and text.rstrip().endswith("### END SOLUTION"), \
        "the answer cell holds only the answer area (the model answer between the markers)"


def test_both_frameworks_ask_the_same_questions():
    torch_nb, tf_nb = cells(NOTEBOOKS["torch"]), cells(NOTEBOOKS["tf"])
    quiz_ids = [i for i in torch_nb if i.startswith("quiz-adv-") or i.startswith("knowledge-check")
                or i.startswith("why-noise-works")]
    assert len(quiz_ids) == 2 + 3 * len(QUESTIONS) + len(RIGHT_OPTION) + 2
    assert quiz_ids == [i for i in tf_nb if i in set(quiz_ids)]
    for cell_id in quiz_ids:
        assert source(torch_nb[cell_id]) == source(tf_nb[cell_id]), cell_id
