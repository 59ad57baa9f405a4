"""`tlcourse grade [ASSIGNMENT]`: autograde submitted/<student>/<assignment>/, print a table."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tlcourse.cli import checks
from tlcourse.cli.checks import UsageError, int_in_range

DESCRIPTION = """\
Autograde the class with nbgrader and print one table per assignment: student, score,
max, time, status, failed tests and notes (renamed notebooks, timeouts, tampering, what
the sandbox stopped). For the instructor, in the course root: the folder with
nbgrader_config.py and source/ (this repository; editions/hi/ for the Hindi edition)."""

EPILOG = """\
where the submissions must be (under the course root):
  submitted/<student>/<assignment>/<Notebook>.ipynb
  e.g. submitted/alice/pets_lab/OxfordPetsPyTorch.ipynb; `nbgrader collect <assignment>`
  puts them there from the exchange, or copy them there. A notebook handed in under
  another name is recognised by its cells and graded under the expected name.

what it writes:
  scores into the gradebook (gradebook.db in the course root, or TLCOURSE_GRADEBOOK_URL),
  graded notebooks into autograded/<student>/<assignment>/ and, by default, feedback
  into feedback/<student>/<assignment>/<Notebook>.html (--no-feedback skips it).
  Each student's kernel runs in a bubblewrap sandbox: no source/, gradebook or other
  students, no network, limited memory and processes (--no-sandbox turns it off).
  Written answers are graded by hand in the Formgrader (make lab ROLE=instructor).

exit status: 0 graded (whatever the scores); 1 no submissions found, or the gradebook or
the sandbox cannot be used; 2 a bad argument.

examples:
  tlcourse grade pets_lab --workers 4        # every student, 4 at once
  tlcourse grade pets_lab --student alice --no-feedback
  cd editions/hi && ../../.venv/bin/tlcourse grade   # the Hindi edition, every assignment"""


def add_parser(sub):
    p = sub.add_parser("grade", help="autograde submitted/<student>/<assignment>/ and print "
                                     "a table: student, score, max, failed tests, time",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", nargs="?", help="default: every assignment with submissions")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--cell-timeout", type=int, default=None,
                   help="seconds per cell before it is interrupted (default: the profile's "
                        "grading_cell_timeout)")
    p.add_argument("--student-timeout", type=float, default=None,
                   help="seconds for one student's whole run before it is killed")
    p.add_argument("--no-feedback", action="store_true",
                   help="skip generate_feedback (by default feedback HTML is written to "
                        "feedback/<student>/<assignment>/)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="grade without the bubblewrap sandbox: each submission runs with your "
                        "rights (the table says 'sandbox: off')")
    p.add_argument("--workers", type=int, default=1,
                   help="grade this many students at once, each in its own process under the "
                        "same limits (default 1)")
    return p


def known_assignments(course: Path) -> list[str]:
    """The course's assignments: the folders of source/ with a notebook."""
    src = course / "source"
    return sorted(p.name for p in src.iterdir() if p.is_dir()
                  and not p.name.startswith((".", "_")) and any(p.glob("*.ipynb"))) \
        if src.is_dir() else []


def submissions(course: Path, assignments: list[str], students: list[str] | None) -> list[str]:
    """The assignments among ``assignments`` with at least one
    ``submitted/<student>/<assignment>/`` folder (of ``students`` when given)."""
    root = course / "submitted"
    if not root.is_dir():
        return []
    who = students or sorted(p.name for p in root.iterdir()
                             if p.is_dir() and not p.name.startswith("."))
    return [a for a in assignments if any((root / s / a).is_dir() for s in who)]


def run(args) -> int:
    if args.cell_timeout is not None:
        int_in_range(args.cell_timeout, "--cell-timeout", 1)
    int_in_range(args.workers, "--workers", 1, 64)
    checks.seconds(args.student_timeout, "--student-timeout")
    # before anything slow (nbgrader, the gradebook, the sandbox): is there anything to grade?
    from tlcourse.course.paths import repo_root
    course = repo_root()
    known = known_assignments(course)
    if args.assignment is not None and args.assignment not in known:
        raise UsageError(f"assignment {args.assignment!r}: not in {course / 'source'}; "
                         f"choose one of {', '.join(known)}")
    if not submissions(course, [args.assignment] if args.assignment else known, args.student):
        who = args.student[0] if args.student and len(args.student) == 1 else "<student>"
        print(f"tlcourse grade: no submissions found under "
              f"submitted/{who}/{args.assignment or '<assignment>'}/ in {course} "
              f"(`nbgrader collect` puts them there; see tlcourse grade --help)", file=sys.stderr)
        return 1
    from tlcourse.course import grade
    return grade.main(args.assignment, students=args.student or None,
                      cell_timeout=args.cell_timeout, student_timeout=args.student_timeout,
                      feedback=not args.no_feedback, sandbox=not args.no_sandbox,
                      workers=args.workers)
