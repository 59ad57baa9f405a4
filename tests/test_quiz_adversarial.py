"""The adversarial_cat knowledge check: each question's hidden test accepts every
correct form of the answer and rejects wrong ones.

The test cells are taken from the source notebooks (hidden tests included) and
run with different answers bound, after the lines of the answer cell a student
sees (the multiple-choice options); no notebook runs.
"""
from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tlcourse import quiz

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"torch": ROOT / "source" / "adversarial_cat" / "AdversarialCatPyTorch.ipynb",
             "tf": ROOT / "source" / "adversarial_cat" / "AdversarialCatTF.ipynb"}
FGSM_RIGHT = "exactly 4 grey levels, up or down"

# question -> (answer variable, correct forms, wrong answers); "letter" stands for the
# letter quiz.ask printed for FGSM_RIGHT, "other letters" for the three others
QUESTIONS = {
    1: ("q1_grey_levels", [4, "4", 4.0, " 4 ", np.int64(4), "8/2"], [5, 3, "four", 2, "2/255"]),
    2: ("q2_fgsm_change", ["letter", "LETTER", "(letter)", "letter)"], ["other letters", "", 4]),
    3: ("q3_total_variation", ["5/6", 5 / 6, Fraction(5, 6), 0.833, "0.8333", "83.33%", np.float32(5 / 6)],
        [0.83, "1/2", 1, "0.8", "5/7", "1/3"]),
    4: ("q4_map_cells", [100, "100", 100.0, "1e2", "100.0"], [10, 49, 99, "10 x 10"]),
    5: ("q5_grad_cam_sum", [1, "1", 1.0, "2/2", "100%"], [0, 2, 0.5, -1]),
}


def cells(path: Path) -> dict:
    return {c["id"]: c for c in json.loads(path.read_text())["cells"]}


def source(cell) -> str:
    return "".join(cell["source"])


def run_test_cell(framework: str, n: int, answer) -> bool:
    """Whether quiz_adv_<n>'s test cell passes with ``answer`` bound to the answer variable."""
    nb = cells(NOTEBOOKS[framework])
    ns: dict = {}
    exec(source(nb["knowledge-check-code"]), ns)
    shown = source(nb[f"quiz-adv-{n}-answer"]).split("### BEGIN SOLUTION")[0]
    exec(shown, ns)   # what the student sees: the options of a multiple-choice question
    ns[QUESTIONS[n][0]] = answer
    try:
        exec(source(nb[f"quiz-adv-{n}-test"]), ns)
    except quiz.NotAnswered:   # the placeholder: the visible check's hint, not a wrong answer
        raise
    except AssertionError:
        return False
    return True


def forms(framework: str, n: int, values) -> list:
    """``values`` with "letter" spelled as the letter of FGSM_RIGHT, "other letters" as the others."""
    if n != 2:
        return list(values)
    ns: dict = {}
    nb = cells(NOTEBOOKS[framework])
    exec("from tlcourse import quiz\n" + source(nb["quiz-adv-2-answer"]).split("### BEGIN SOLUTION")[0], ns)
    right = quiz.letter("quiz_adv_2", ns["Q2_OPTIONS"], FGSM_RIGHT)
    others = [quiz.letter("quiz_adv_2", ns["Q2_OPTIONS"], o) for o in ns["Q2_OPTIONS"] if o != FGSM_RIGHT]
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
def test_hidden_test_rejects_wrong_answers_and_the_placeholder(framework, n):
    for answer in forms(framework, n, QUESTIONS[n][2]):
        assert not run_test_cell(framework, n, answer), f"Q{n} accepted the wrong answer {answer!r}"
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
        assert visible.strip() == f'quiz.answered({var}, "{var}")', f"Q{n}: the visible test gives away more"
        assert f"{var} = None" in answer_cell.split("### BEGIN SOLUTION")[0]
        meta = nb[f"quiz-adv-{n}-test"]["metadata"]["nbgrader"]
        assert meta["grade_id"] == f"quiz_adv_{n}" and meta["points"] == 1 and meta["locked"]


def test_both_frameworks_ask_the_same_questions():
    torch_nb, tf_nb = cells(NOTEBOOKS["torch"]), cells(NOTEBOOKS["tf"])
    quiz_ids = [i for i in torch_nb if i.startswith("quiz-adv-") or i.startswith("knowledge-check")]
    assert len(quiz_ids) == 2 + 3 * len(QUESTIONS)
    for cell_id in quiz_ids:
        assert source(torch_nb[cell_id]) == source(tf_nb[cell_id]), cell_id
