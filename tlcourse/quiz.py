"""Knowledge checks: a student's answer in any correct form, and multiple choice.

A knowledge check is a graded notebook cell whose ``grade_id`` starts with
``quiz_``: the student assigns a value in a solution cell (``q1 = ...``), and
the test cell compares it with the expected value written in its hidden tests.
The package never holds an answer; it only reads forms::

    quiz.same_number("1/2", 0.5)   # True: 0.5, "0.5", "1/2", "50%", Fraction(1, 2) all count
    quiz.same_choice(" (b) ", "b")  # True

Multiple choice: ``ask(question_id, options)`` prints the options as a) b) c) in
the order the notebook stores them.  The notebook's author places the correct
option where the instructor's seed (``source/quiz_seed.txt``) says, and the hidden
test names its letter; ``tlcourse build`` checks both (``course.release_checks``).
Nothing here can tell which option is right.
"""
from __future__ import annotations

import math
import numbers
import re
from fractions import Fraction
from typing import Sequence

PREFIX = "quiz_"   # grade ids of knowledge checks
LETTERS = "abcdefgh"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?", re.IGNORECASE)


class NotAnswered(AssertionError):
    """The answer cell still holds its placeholder (or no usable value)."""


def is_quiz(grade_id: str) -> bool:
    return grade_id.startswith(PREFIX)


def as_number(answer) -> Fraction | float:
    """The number an answer means: a number, or a string "0.5", "1/2", "50%", "2e-3".

    Raises ``NotAnswered`` (one line naming the value) for anything else:
    ``None``, a list, words."""
    if isinstance(answer, bool) or answer is None:
        raise NotAnswered(f"answer {answer!r}: assign a number (e.g. 0.5 or \"1/2\")")
    if isinstance(answer, numbers.Rational):
        return Fraction(int(answer.numerator), int(answer.denominator))
    if isinstance(answer, numbers.Real):
        return float(answer)
    if hasattr(answer, "item") and getattr(answer, "shape", None) == ():   # numpy / torch / tf scalars
        return as_number(answer.item())
    if isinstance(answer, str):
        text = answer.strip().replace(",", "").replace("_", "")
        percent = text.endswith("%")
        text = text.rstrip("%").strip()
        parts = [p.strip() for p in text.split("/")]
        if 1 <= len(parts) <= 2 and all(_NUMBER.fullmatch(p) for p in parts):
            value = Fraction(parts[0])
            if len(parts) == 2:
                if Fraction(parts[1]) == 0:
                    raise NotAnswered(f"answer {answer!r}: division by zero")
                value /= Fraction(parts[1])
            return value / 100 if percent else value
    raise NotAnswered(f"answer {answer!r}: assign a number (e.g. 0.5 or \"1/2\"), not {type(answer).__name__}")


def same_number(answer, expected, rel: float = 1e-9, abs_tol: float = 0.0) -> bool:
    """Whether ``answer`` means ``expected``: exactly for fractions ("1/3"), within
    floating-point rounding for decimals (so 1001.0 is not 1000), or within a
    tolerance the question states (``rel``, ``abs_tol``)."""
    try:
        value = as_number(answer)
    except NotAnswered:
        return False
    expected = Fraction(expected) if isinstance(expected, (int, Fraction, str)) else expected
    if isinstance(value, Fraction) and isinstance(expected, Fraction) and value == expected:
        return True
    return math.isclose(float(value), float(expected), rel_tol=rel, abs_tol=abs_tol)


def ask(question_id: str, options: Sequence[str]) -> None:
    """Print the options as a) b) c) ..., in the order given."""
    if len(set(options)) != len(options) or not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"{question_id}: give 2-{len(LETTERS)} distinct options")
    for mark, option in zip(LETTERS, options):
        print(f"  {mark}) {option}")


def same_choice(answer, expected_letter: str) -> bool:
    """Whether ``answer`` names the letter: "b", "B", "(b)", "b)" all count."""
    if not isinstance(answer, str):
        return False
    return answer.strip().strip("()").strip().lower().rstrip(")").strip() == expected_letter


def answered(answer, name: str) -> None:
    """Fail with a one-line hint while the placeholder ``None`` is still there."""
    if answer is None:
        raise NotAnswered(f"{name} is still None: replace it with your answer")
