"""nbgrader configuration for the course (read by every nbgrader command run here)."""
import os

c = get_config()  # noqa: F821 - provided by nbgrader

# Kernels inherit this: busy-waiting OpenMP threads make torch 5-8x slower on shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The course root is this repository, wherever it is cloned.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "tlcourse"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.solution_directory = "notebooks"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# A shared exchange (JupyterHub) lives at nbgrader's default path; on a single
# machine without one, a git-ignored folder in the course makes Formgrader's
# Release and Collect work instead of greying them out.
if not os.path.isdir("/usr/local/share/nbgrader/exchange"):
    c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
    os.makedirs(c.Exchange.root, exist_ok=True)   # Formgrader only checks that it exists
# Deep-learning cells train models: the 30 s default would kill them.  Per
# cell, so a student's infinite loop still stops.  TLCOURSE_CELL_TIMEOUT lets
# tests and instructors size it per profile.
c.Execute.timeout = int(os.environ.get("TLCOURSE_CELL_TIMEOUT", "600"))
c.Execute.kernel_name = "python3"
c.Execute.interrupt_on_timeout = True
# Generated student notebooks carry no outputs; the tests check it.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
# A student who deletes a locked test cell gets it back (and graded) instead of
# silently losing it; edited locked cells are restored by OverwriteCells anyway.
c.OverwriteCells.add_missing_cells = True

# generate_solution would execute every solution notebook (minutes each) only
# for `tlcourse build` to strip the outputs again: the solutions are executed
# by the test suite (nbval) and `tlcourse run` instead.
from nbgrader.preprocessors import ClearMarkScheme, ClearOutput, IncludeHeaderFooter, LockCells  # noqa: E402

c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme]

# --- tampering earns nothing (tlcourse/integrity.py, tlcourse/course/tampering.py) ---
# Every kernel nbgrader starts records the grading machinery before the first cell;
# autograde scores 0 the tests that passed after it changed and flags them (and cells
# whose code reaches for it) "needs manual grading".
from nbgrader.converters import Autograde  # noqa: E402

from tlcourse.course.tampering import KERNEL_ARGUMENTS, autograde_preprocessors  # noqa: E402

c.Execute.extra_arguments = KERNEL_ARGUMENTS
c.Autograde.autograde_preprocessors = autograde_preprocessors(
    Autograde.class_traits()["autograde_preprocessors"].default())
# --- end of tampering ---

# --- knowledge checks run on unanswered (tlcourse/course/answer_cells.py) ---
# A knowledge check's answer cell keeps its `q1 = None` line and gets no
# `raise NotImplementedError()`: its test cell says "not answered yet" instead.
from nbgrader.converters import GenerateAssignment  # noqa: E402

from tlcourse.course.answer_cells import generate_assignment_preprocessors  # noqa: E402

c.GenerateAssignment.preprocessors = generate_assignment_preprocessors(
    GenerateAssignment.class_traits()["preprocessors"].default())
# --- end of knowledge checks ---

# --- sanitised student output (feedback and formgrader) ---
# A student's outputs and markdown never run script in the instructor's browser, in the
# feedback HTML nor in the formgrader: nbconvert's sanitize_html leaves out JavaScript
# outputs and widgets, and our filters clean HTML and rendered markdown (no scripts, on*
# handlers, javascript: URLs, iframes) yet keep plots, tables and links.
# See tlcourse/course/sanitize.py.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"clean_html": "tlcourse.course.sanitize.clean_html",
                          "markdown2html": "tlcourse.course.sanitize.SafeMarkdown"}
# --- end of sanitised student output ---

# >>> tlcourse grading profile (read by tlcourse/profiles.py; keep it one plain line) >>>
# The profile every submission of this course is graded in: smoke, laptop or full (never
# auto: grades must not depend on the grading machine).  `nbgrader autograde`, `tlcourse
# grade` and the Validate button all use it, whatever a notebook's PROFILE says.
tlcourse_grading_profile = "smoke"
# <<< tlcourse grading profile <<<

# --- hub and gradebook (deploy/jupyterhub, tlcourse/course/gradebook.py) -------------
# The gradebook: a server database when TLCOURSE_GRADEBOOK_URL names one (e.g.
# postgresql://grader:secret@db.example.org/tlcourse), else nbgrader's default
# SQLite file gradebook.db in the course.  On a JupyterHub, TLCOURSE_EXCHANGE is
# the shared exchange every student's server also uses (deploy/jupyterhub/etc/).
if os.environ.get("TLCOURSE_GRADEBOOK_URL"):
    c.CourseDirectory.db_url = os.environ["TLCOURSE_GRADEBOOK_URL"]
if os.environ.get("TLCOURSE_EXCHANGE"):
    c.Exchange.root = os.environ["TLCOURSE_EXCHANGE"]
# --- end of hub and gradebook ----------------------------------------------------------
