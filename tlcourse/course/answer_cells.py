"""A knowledge check's answer cell keeps its placeholder line and nothing that raises.

nbgrader's ClearSolutions puts the course's code stub (``# YOUR CODE HERE`` and
``raise NotImplementedError()``) where a solution was: right for an exercise, which
must fail until written, but a knowledge check's answer cell already holds its
placeholder (``q1 = None   # your answer: ...``), and the stub would stop a notebook run
top to bottom at the first unanswered question.  Its visible test cell says "not answered
yet" in one line instead, and fails while nbgrader grades (``tlcourse.quiz.answered``).

``KeepQuizPlaceholder`` runs in ``nbgrader generate_assignment`` right after
ClearSolutions (``generate_assignment_preprocessors``, nbgrader_config.py), so the
release, the gradebook's checksums and Formgrader's Generate agree.  It touches only a
solution cell whose first line assigns ``None`` to a name a knowledge-check test cell
(grade id ``quiz_*``) passes to ``quiz.answered`` and whose other lines are the stub.
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import ClearSolutions, NbGraderPreprocessor

_ANSWERED = re.compile(r"quiz\.answered\(\s*(\w+)\s*,")
_PLACEHOLDER = re.compile(r"(\w+)\s*=\s*None\b")
_STUB = {"# YOUR CODE HERE", "raise NotImplementedError()"}


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def quiz_answer_names(nb) -> set[str]:
    """The names the knowledge checks' test cells pass to ``quiz.answered``."""
    names = set()
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("grade") \
                and str(meta.get("grade_id", "")).startswith("quiz_"):
            names |= set(_ANSWERED.findall(cell.source))
    return names


def keep_placeholder(source: str, names: set[str]) -> str:
    """The answer cell without the stub, if it is a knowledge check's; else as it was."""
    first, *rest = source.split("\n")
    found = _PLACEHOLDER.match(first)
    if found and found.group(1) in names and rest \
            and all(line.strip() in _STUB or not line.strip() for line in rest):
        return first
    return source


class KeepQuizPlaceholder(NbGraderPreprocessor):
    """After ClearSolutions: a knowledge check's answer cell is its placeholder line only."""

    def preprocess(self, nb, resources):
        names = quiz_answer_names(nb)
        for cell in nb.cells:
            if cell.cell_type == "code" and _nbgrader(cell).get("solution") \
                    and not _nbgrader(cell).get("grade"):
                cell.source = keep_placeholder(cell.source, names)
        return nb, resources


def generate_assignment_preprocessors(defaults: list) -> list:
    """nbgrader's generate_assignment steps with KeepQuizPlaceholder after ClearSolutions."""
    out = []
    for step in defaults:
        out.append(step)
        if step is ClearSolutions:
            out.append(KeepQuizPlaceholder)
    if KeepQuizPlaceholder not in out:
        raise RuntimeError("nbgrader's generate_assignment steps have changed: put "
                           "KeepQuizPlaceholder after ClearSolutions by hand")
    return out
