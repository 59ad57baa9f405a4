"""Knowledge checks accept every correct form of an answer and nothing else."""
from fractions import Fraction

import numpy as np
import pytest

from tlcourse import quiz


@pytest.mark.parametrize("form", [0.5, "0.5", "1/2", " 1 / 2 ", "50%", Fraction(1, 2), np.float32(0.5),
                                  np.array(0.5), ".5", "5e-1"])
def test_every_form_of_one_half_counts(form):
    assert quiz.same_number(form, Fraction(1, 2))
    assert quiz.same_number(form, 0.5)


@pytest.mark.parametrize("form", [0.51, "0.49", "1/3", "5%", None, True, "half", [0.5], "1/0", "", "0.5.1"])
def test_wrong_or_unusable_answers_do_not_count(form):
    assert not quiz.same_number(form, Fraction(1, 2))


def test_integers_are_exact():
    assert quiz.same_number(2562, 2562) and quiz.same_number("2,562", 2562)
    assert quiz.same_number(2562.0, 2562) and quiz.same_number(np.int64(2562), 2562)
    assert not quiz.same_number(2561, 2562) and not quiz.same_number(2562.5, 2562)
    assert not quiz.same_number(1281001.0, 1281000), "a float off by one is still wrong"
    assert quiz.same_number(0.1 + 0.2, "3/10"), "floating-point rounding is not an error"


def test_stated_tolerance():
    assert quiz.same_number(0.0078, Fraction(2, 255), abs_tol=5e-4)
    assert not quiz.same_number(0.0078, Fraction(2, 255))


def test_unusable_answer_says_what_to_do():
    with pytest.raises(quiz.NotAnswered, match="assign a number"):
        quiz.as_number("two")
    with pytest.raises(quiz.NotAnswered, match="q3 is still None"):
        quiz.answered(None, "q3")


OPTIONS = ["the base", "the head", "both the same", "neither"]


def test_multiple_choice_order_is_fixed_and_seeded_by_question(capsys):
    quiz.ask("quiz_demo", OPTIONS)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 4 and printed[0].startswith("  a) ")
    order = [line.split(") ", 1)[1] for line in printed]
    assert sorted(order) == sorted(OPTIONS)
    assert order == quiz.shuffled("quiz_demo", OPTIONS)   # same on every call
    orders = {tuple(quiz.shuffled(f"quiz_{i}", OPTIONS)) for i in range(20)}
    assert len(orders) > 3, "the order must depend on the question"
    for option in OPTIONS:
        assert order["abcd".index(quiz.letter("quiz_demo", OPTIONS, option))] == option


@pytest.mark.parametrize("form,ok", [("b", True), ("B", True), ("(b)", True), (" b) ", True),
                                     ("c", False), ("", False), (None, False), (2, False), ("bb", False)])
def test_choice_forms(form, ok):
    assert quiz.same_choice(form, "b") is ok


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        quiz.ask("quiz_x", ["a", "a"])
    with pytest.raises(ValueError, match="not one of the options"):
        quiz.letter("quiz_x", OPTIONS, "the optimiser")
