"""Knowledge checks accept every correct form of an answer and nothing else."""
import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

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


def test_unusable_answer_says_what_to_do(monkeypatch):
    with pytest.raises(quiz.NotAnswered, match="assign a number"):
        quiz.as_number("two")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(quiz.NotAnswered, match="q3 is still None"):
        quiz.answered(None, "q3")


@pytest.mark.parametrize("mode", ["autograde", "validate"])
def test_unanswered_fails_while_nbgrader_executes(monkeypatch, capsys, mode):
    """Autograde gives 0 and Validate lists the question: both set NBGRADER_EXECUTION."""
    monkeypatch.setenv("NBGRADER_EXECUTION", mode)
    with pytest.raises(quiz.NotAnswered, match="q1_trainable is still None") as failed:
        quiz.answered(None, "q1_trainable", kind="number")
    assert isinstance(failed.value, AssertionError), "nbgrader marks a failed AssertionError"
    assert capsys.readouterr().out == ""


def test_unanswered_prints_one_line_and_runs_on_interactively(monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert quiz.answered(None, "q1_trainable", kind="number") is False
    assert capsys.readouterr().out.splitlines() == [
        "q1_trainable: not answered yet \N{EM DASH} answer it, or read on; it is graded when you submit"]
    assert quiz.reveal(None, "quiz_demo_1", digest="0" * 64, why="why") is None
    assert capsys.readouterr().out == "", "nothing to reveal for an unanswered question"


@pytest.mark.parametrize("form,refused", [(1000, False), ("1,000", False), ("1/2", False), (2.5, False),
                                          ("two", True), ([1000], True), ("", True), (True, True),
                                          ("1000 weights", True)])
def test_a_number_question_refuses_what_is_not_a_number(form, refused):
    if refused:
        with pytest.raises(quiz.WrongForm, match=r"^q1 = .*: give a number, e\.g\. 1000 or \"1,000\""):
            quiz.answered(form, "q1", kind="number")
    else:
        assert quiz.answered(form, "q1", kind="number") is True


@pytest.mark.parametrize("form,refused", [("a", False), ("D", False), ("(c)", False), (" b) ", False),
                                          ("e", True), ("ab", True), ("", True), (3, True),
                                          (["a"], True), ("the head", True)])
def test_a_choice_question_refuses_a_letter_that_was_not_printed(form, refused, capsys):
    quiz.ask("quiz_demo_choice", OPTIONS)
    if refused:
        with pytest.raises(quiz.WrongForm, match=r"give one of the letters a-d printed above"):
            quiz.answered(form, "q3_coffee", kind="choice", question="quiz_demo_choice")
    else:
        assert quiz.answered(form, "q3_coffee", kind="choice", question="quiz_demo_choice") is True


def test_the_option_count_is_the_one_printed_for_that_question(capsys):
    quiz.ask("quiz_demo_three", OPTIONS[:3])
    quiz.ask("quiz_demo_five", OPTIONS + ["both"])
    with pytest.raises(quiz.WrongForm, match="a-c"):
        quiz.answered("d", "q", kind="choice", question="quiz_demo_three")
    assert quiz.answered("e", "q", kind="choice", question="quiz_demo_five")
    with pytest.raises(quiz.WrongForm, match="run the cell above that prints the options of quiz_never_asked"):
        quiz.answered("a", "q", kind="choice", question="quiz_never_asked")
    with pytest.raises(ValueError):
        quiz.answered("a", "q", kind="letter")


def test_a_refusal_shows_as_one_line_in_ipython(capsys):
    """IPython shows what ``_render_traceback_`` returns instead of a traceback into quiz.py."""
    quiz.ask("quiz_demo_ipy", OPTIONS)
    try:
        quiz.answered("e", "q3_coffee", kind="choice", question="quiz_demo_ipy")
    except quiz.WrongForm as refused:
        shown = refused._render_traceback_()
    assert shown == ["WrongForm: q3_coffee = 'e': give one of the letters a-d printed above"]
    assert all("\n" not in line and "quiz.py" not in line for line in shown)


def test_a_refusal_in_a_real_ipython_shell_is_one_line():
    """In IPython (the kernel's shell), in a process of its own: the whole error is one line."""
    script = textwrap.dedent("""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_cell("from tlcourse import quiz; quiz.ask('quiz_demo_shell', ['x', 'y', 'z'])")
        print("-- cut --", flush=True)
        result = shell.run_cell("quiz.answered('e', 'q3', kind='choice', question='quiz_demo_shell')")
        print("-- error --", type(result.error_in_exec).__name__)
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(quiz.__file__).resolve().parents[1]))
    env.pop("NBGRADER_EXECUTION", None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         timeout=120)
    shown = (out.stdout + out.stderr).split("-- cut --", 1)[1]
    lines = [line for line in shown.strip().splitlines() if line.strip()]
    assert lines == ["WrongForm: q3 = 'e': give one of the letters a-c printed above",
                     "-- error -- WrongForm"], shown


def test_reveal_compares_a_salted_digest_of_the_normal_form(capsys):
    digest = quiz.answer_digest("quiz_demo_1", 1234)
    assert len(digest) == 64 and "1234" not in digest
    assert digest != quiz.answer_digest("quiz_demo_2", 1234), "salted with the question id"
    for form in [1234, "1,234", 1234.0, "1234", "2468/2", np.int64(1234)]:
        assert quiz.reveal(form, "quiz_demo_1", digest=digest, why="count them") is True
    for form in [1233, "1234.5", "b", [1234]]:
        assert quiz.reveal(form, "quiz_demo_1", digest=digest, why="count them") is False
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["right: count them"] * 6 + ["not quite: count them"] * 4
    letter = quiz.answer_digest("quiz_demo_3", "c")
    assert all(quiz.reveal(f, "quiz_demo_3", digest=letter, why="w") for f in ["c", "C", "(c)", " c) "])
    assert not quiz.reveal("d", "quiz_demo_3", digest=letter, why="w")
    assert quiz.canonical("50%") == quiz.canonical(0.5) == "number:1/2"


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
