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
    assert quiz.same_number(4321, 4321) and quiz.same_number("4,321", 4321)
    assert quiz.same_number(4321.0, 4321) and quiz.same_number(np.int64(4321), 4321)
    assert not quiz.same_number(4320, 4321) and not quiz.same_number(4321.5, 4321)
    assert not quiz.same_number(7654321.0, 7654320), "a float off by one is still wrong"
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


def test_multiple_choice_prints_the_options_in_the_stored_order(capsys):
    """The printed order is the stored one: the package cannot know (or leak) which is right."""
    quiz.ask("quiz_demo", OPTIONS)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"  {mark}) {option}" for mark, option in zip("abcd", OPTIONS)]
    assert not hasattr(quiz, "letter") and not hasattr(quiz, "shuffled")


@pytest.mark.parametrize("form,ok", [("b", True), ("B", True), ("(b)", True), (" b) ", True),
                                     ("c", False), ("", False), (None, False), (2, False), ("bb", False)])
def test_choice_forms(form, ok):
    assert quiz.same_choice(form, "b") is ok


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        quiz.ask("quiz_x", ["a", "a"])
    with pytest.raises(ValueError, match="distinct"):
        quiz.ask("quiz_x", ["only one"])
