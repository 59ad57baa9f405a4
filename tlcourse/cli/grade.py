"""`tlcourse grade [ASSIGNMENT]`: autograde submitted/<student>/<assignment>/, print a table."""
from __future__ import annotations

from tlcourse.cli import checks
from tlcourse.cli.checks import int_in_range


def add_parser(sub):
    p = sub.add_parser("grade", help="autograde submitted/<student>/<assignment>/ and print "
                                     "a table: student, score, max, failed tests, time")
    p.add_argument("assignment", nargs="?", help="default: every assignment with submissions")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--cell-timeout", type=int, default=None,
                   help="seconds per cell before it is interrupted (default: the profile's "
                        "grading_cell_timeout)")
    p.add_argument("--student-timeout", type=float, default=None,
                   help="seconds for one student's whole run before it is killed")
    p.add_argument("--no-feedback", action="store_true", help="skip generate_feedback")
    p.add_argument("--no-sandbox", action="store_true",
                   help="grade without the bubblewrap sandbox: each submission runs with your "
                        "rights (the table says 'sandbox: off')")
    p.add_argument("--workers", type=int, default=1,
                   help="grade this many students at once, each in its own process under the "
                        "same limits (default 1)")
    return p


def run(args) -> int:
    from tlcourse.course import grade
    if args.cell_timeout is not None:
        int_in_range(args.cell_timeout, "--cell-timeout", 1)
    int_in_range(args.workers, "--workers", 1, 64)
    checks.seconds(args.student_timeout, "--student-timeout")
    return grade.main(args.assignment, students=args.student or None,
                      cell_timeout=args.cell_timeout, student_timeout=args.student_timeout,
                      feedback=not args.no_feedback, sandbox=not args.no_sandbox,
                      workers=args.workers)
