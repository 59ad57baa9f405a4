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

The visible test cell answers at once about the *form* of an answer, never about its
value: ``answered(q3, "q3", kind="choice", question="quiz_x_3")`` refuses, in one line, a
letter that is not one of the options ``ask`` printed for that question ("e" after a)-d),
"ab"), and ``kind="number"`` refuses what ``as_number`` cannot read (a word, a list).  A
question still ``None`` prints one line and lets a notebook run on, except while nbgrader
executes it (``NBGRADER_EXECUTION`` set: autograde *and* Validate), where it fails, so
Validate lists it and the grade is 0.

A diagnostic question (the pre-lesson check, points for answering) also says "right" or
"not quite" at once: ``reveal(q1, "quiz_x_1", digest=..., why=...)`` compares a salted
SHA-256 of the answer's canonical form with the digest the visible cell holds (``answer_digest``
computes it).  The answer itself is written only in the hidden tests.
"""
from __future__ import annotations

import hashlib
import math
import numbers
import re
from fractions import Fraction
from typing import Sequence

from tlcourse.messages import _, translate
from tlcourse.profiles import nbgrader_executing

PREFIX = "quiz_"   # grade ids of knowledge checks
LETTERS = "abcdefgh"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?", re.IGNORECASE)


class QuizFeedback(AssertionError):
    """A failed knowledge-check cell, shown as one line: IPython shows the list that
    ``_render_traceback_`` returns instead of a traceback into this module (its documented
    hook for exceptions that format themselves).  An ``AssertionError``, so nbgrader marks
    the test failed."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class NotAnswered(QuizFeedback):
    """The answer cell still holds its placeholder (or no usable value)."""


class WrongForm(NotAnswered):
    """An answer of the wrong kind: a letter that is not an option, a word for a number."""


_OPTIONS: dict[str, int] = {}   # question id -> how many options ask() printed for it


def is_quiz(grade_id: str) -> bool:
    return grade_id.startswith(PREFIX)


def as_number(answer) -> Fraction | float:
    """The number an answer means: a number, or a string "0.5", "1/2", "50%", "2e-3".

    Raises ``NotAnswered`` (one line naming the value) for anything else:
    ``None``, a list, words."""
    if isinstance(answer, bool) or answer is None:
        raise NotAnswered(_("answer {answer}: assign a number (e.g. 0.5 or \"1/2\")",
                            answer=repr(answer)))
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
                    raise NotAnswered(_("answer {answer}: division by zero", answer=repr(answer)))
                value /= Fraction(parts[1])
            return value / 100 if percent else value
    raise NotAnswered(_("answer {answer}: assign a number (e.g. 0.5 or \"1/2\"), not {kind}",
                        answer=repr(answer), kind=type(answer).__name__))


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
    """Print the options as a) b) c) ..., in the order given (each in the edition's language:
    the catalog's translation of the English option for this question)."""
    if len(set(options)) != len(options) or not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"{question_id}: give 2-{len(LETTERS)} distinct options")
    _OPTIONS[question_id] = len(options)
    for mark, option in zip(LETTERS, options):
        print(f"  {mark}) {translate(option, context=question_id)}")


def same_choice(answer, expected_letter: str) -> bool:
    """Whether ``answer`` names the letter: "b", "B", "(b)", "b)" all count."""
    return _letter(answer) == expected_letter


def _letter(answer) -> str | None:
    """The letter an answer names ("b", "B", "(b)", "b)"), or None."""
    if not isinstance(answer, str):
        return None
    text = answer.strip().strip("()").strip().lower().rstrip(")").strip()
    return text if len(text) == 1 and text in LETTERS else None


def answered(answer, name: str, kind: str | None = None, question: str | None = None) -> bool:
    """Check the form of an answer, in the visible test cell; True when it is answered.

    ``None`` (the placeholder): one line printed and False while a student runs the
    notebook, so it runs on; ``NotAnswered`` while nbgrader executes it (autograde, Validate).
    ``kind="number"``: what ``as_number`` cannot read is refused (``WrongForm``, one line).
    ``kind="choice"``: anything but one of the letters ``ask(question, ...)`` printed is
    refused.  Nothing here knows or tells whether the answer is right."""
    if answer is None:
        if nbgrader_executing():
            raise NotAnswered(_("{name} is still None: replace it with your answer", name=name))
        print(_("{name}: not answered yet \N{EM DASH} answer it, or read on; it is graded when "
                "you submit", name=name))
        return False
    if kind == "number":
        try:
            as_number(answer)
        except NotAnswered:
            raise WrongForm(_("{name} = {answer}: give a number, e.g. 1000 or \"1,000\", "
                              "0.5 or \"1/2\"", name=name, answer=repr(answer))) from None
    elif kind == "choice":
        if question not in _OPTIONS:
            raise WrongForm(_("{name}: run the cell above that prints the options of {question} "
                              "first", name=name, question=question))
        marks = LETTERS[:_OPTIONS[question]]
        if _letter(answer) not in set(marks):
            raise WrongForm(_("{name} = {answer}: give one of the letters {first}-{last} printed "
                              "above", name=name, answer=repr(answer), first=marks[0], last=marks[-1]))
    elif kind is not None:
        raise ValueError(f"{name}: kind is \"number\" or \"choice\", not {kind!r}")
    return True


def canonical(answer) -> str:
    """An answer's normal form: "number:<p>/<q>" (exact; a float by its shortest decimal,
    so 0.5 is 1/2) or "choice:<letter>"."""
    letter = _letter(answer)
    if letter is not None:
        return f"choice:{letter}"
    value = as_number(answer)
    if isinstance(value, float):
        value = Fraction(repr(value))
    return f"number:{value.numerator}/{value.denominator}"


def answer_digest(question: str, answer) -> str:
    """SHA-256 of the answer's canonical form, salted with the course and the question id (so
    equal answers to two questions differ).  An instructor computes a diagnostic's digest with
    it from the right answer; a determined student can find a small number or a letter by
    trying them, which is why only a diagnostic (points for answering) uses it."""
    return hashlib.sha256(f"tlcourse.quiz:{question}:{canonical(answer)}".encode()).hexdigest()


def reveal(answer, question: str, digest: str, why: str) -> bool | None:
    """Print "right: <why>" or "not quite: <why>" for an answered diagnostic question: the
    answer's digest compared with the one the cell holds; ``why`` explains without stating
    the answer.  Nothing for ``None`` (``answered`` has said so); exact answers only."""
    if answer is None:
        return None
    try:
        right = answer_digest(question, answer) == digest
    except NotAnswered:
        right = False
    verdict = _("right: {why}") if right else _("not quite: {why}")
    print(verdict.format(why=translate(why, context=question)))
    return right
