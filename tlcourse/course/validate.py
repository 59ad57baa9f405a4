"""Validate that summarises: what nbgrader's Validate button shows a student.

nbgrader's Validate runs the notebook and its lab extension shows, per failing test
cell, "The following cell failed:", the whole test code and the traceback.  This Jupyter
server extension answers the same request (``POST /assignments/validate``, with
nbgrader's own ``ValidateAssignmentHandler`` and ``Validator``, so the notebook runs
exactly as nbgrader runs it) and rewrites only the list of failures into one report:

    3 of 7 checks pass; the 4 failing carry 10 of 17 points. Hidden tests run when it is graded.
    ✗ 2. Features (test_ex_b_compute_features, 3 points): compute_features returned None: ...
        in your compute_features, line 4: return None

one line per failing check with the section (the notebook's heading above it), its
points and the first line of its error (the graded tests' errors are already condensed
by ``tlcourse.feedback``: the student's own frames kept, package frames counted); nothing
of the test code.  nbgrader's lab extension shows the report (its first failed entry)
under a fixed label, which a scoped style in the report hides, so the summary is the
dialog's first line.  Success, "cell changed" and "type changed" answers are nbgrader's.

Turned on in place of nbgrader's ``validate_assignment`` server extension by the course's
servers (``tlcourse.course.lab.command``, deploy/jupyterhub/etc/jupyter_server_config.json):
``--ServerApp.jpserver_extensions=tlcourse.course.validate=True``.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from tlcourse.feedback import FAILED, INDENT
from tlcourse.messages import _

EXTENSION = "tlcourse.course.validate"
NBGRADER_VALIDATE = "nbgrader.server_extensions.validate_assignment"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# nbgrader's dialog: div#validation-message > [div(label) div(source) div(error)] per
# failure; the report is the only failure, its error block the whole report
_STYLE = ("<style>#validation-message > div:nth-child(-n+2) { display: none; } "
          "#validation-message pre { white-space: pre-wrap; }</style>")


@dataclass(frozen=True)
class Check:
    """A graded test cell of a notebook: what the report says about it."""
    grade_id: str
    points: float
    section: str
    source: str


def checks(nb) -> list[Check]:
    """The autograded test cells of ``nb`` (nbgrader grade cells with code, not answers),
    each with the last markdown heading above it."""
    found, section = [], ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            headings = [line.lstrip("#").strip() for line in cell.source.splitlines()
                        if line.startswith("#")]
            section = headings[-1] if headings else section
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            found.append(Check(str(meta.get("grade_id", "")), float(meta.get("points", 0) or 0),
                               section, cell.source.strip()))
    return found


def _points(x: float) -> str:
    return _("1 point") if x == 1 else _("{points} points", points=format(x, "g"))


def failure_lines(raw_error: str, grade_id: str) -> list[str]:
    """The first line of a failed cell's error (without the "<grade_id>: " prefix that
    ``tlcourse.feedback`` puts there) and the lines about the student's own code."""
    lines = [line.rstrip() for line in _ANSI.sub("", raw_error).splitlines() if line.strip()]
    if not lines:
        return ["failed"]
    condensed = FAILED.format(grade_id=grade_id, message="")
    if lines[0].startswith(condensed):
        # the student's own code: indented lines, but not the "(... not shown)" one
        return [lines[0][len(condensed):]] + [x for x in lines[1:] if x.startswith(INDENT)
                                              and not x.startswith(INDENT + "(")]
    # an error IPython formatted itself: its last line names it ("NameError: ...")
    last = next((x for x in reversed(lines) if re.match(r"^\w+(Error|Exception|Interrupt)\b", x)),
                lines[-1])
    return [last.strip()]


def summarise(nb, failed: list[dict]) -> tuple[str, list[str]]:
    """(summary line, one line per failing check plus its student-code lines) for the
    notebook ``nb`` (as the student saved it) and nbgrader's ``failed`` list."""
    all_checks = checks(nb)
    by_source = {c.source: c for c in all_checks}
    lines, failing = [], []
    for entry in failed:
        check = by_source.get(entry.get("source", "").strip())
        if check is None:       # a failed cell that is not a test: nbgrader's own words
            lines.append(f"\u2717 {failure_lines(entry.get('raw_error', ''), '')[0]}")
            continue
        failing.append(check)
        first, *own = failure_lines(entry.get("raw_error", ""), check.grade_id)
        where = f"{check.section} " if check.section else ""
        lines.append(f"\u2717 {where}({check.grade_id}, {_points(check.points)}): {first}")
        lines += own
    total, lost = sum(c.points for c in all_checks), sum(c.points for c in failing)
    passed = len(all_checks) - len(failing)
    summary = _("{passed} of {total} checks pass; the {failing} failing carry {lost} of {points} "
                "points. Hidden tests run when it is graded.", passed=passed, total=len(all_checks),
                failing=len(failing), lost=format(lost, "g"), points=format(total, "g"))
    return summary, lines


def report(notebook: Path, result: dict) -> dict:
    """nbgrader's validation ``result`` for ``notebook`` with its failures as one report."""
    import nbformat

    if not result.get("failed"):
        return result
    summary, lines = summarise(nbformat.read(notebook, as_version=4), result["failed"])
    text = "\n".join([summary, ""] + lines)
    body = "\n".join([f"<b>{html.escape(summary)}</b>", ""] + [html.escape(x) for x in lines])
    return {**result, "failed": [{"source": summary, "error": _STYLE + body, "raw_error": text}]}


def _handlers():
    """nbgrader's two handlers, the validating one reporting through ``report``."""
    from nbgrader.server_extensions.validate_assignment.handlers import (
        NbGraderVersionHandler, ValidateAssignmentHandler)

    class SummarisingValidateHandler(ValidateAssignmentHandler):
        def validate_notebook(self, path):
            answer = super().validate_notebook(path)
            if answer.get("success") and isinstance(answer.get("value"), dict):
                target = (Path(self.root_dir) / path).resolve()
                try:
                    answer["value"] = report(target, answer["value"])
                except Exception:       # nbgrader's own answer rather than none
                    self.log.exception("tlcourse validate: the summary failed")
            return answer

    return [(r"/assignments/validate", SummarisingValidateHandler),
            (r"/nbgrader_version", NbGraderVersionHandler)]


def _jupyter_server_extension_points():
    return [{"module": EXTENSION}]


def _load_jupyter_server_extension(serverapp):
    """Register the handlers (the server's root as nbgrader's handler expects it)."""
    from jupyter_server.utils import url_path_join

    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    base = webapp.settings["base_url"]
    webapp.add_handlers(".*$", [(url_path_join(base, pattern), handler)
                                for pattern, handler in _handlers()])
