"""`tlcourse lab`: JupyterLab on the course; the student's view (`make lab`) or the
instructor's (`make lab ROLE=instructor`)."""
from __future__ import annotations

import argparse

from tlcourse.cli.checks import UsageError


def add_parser(sub):
    p = sub.add_parser(
        "lab", help="JupyterLab on the course, opening on START_HERE.ipynb; your own copies "
                    "of the notebooks are made first",
        description="JupyterLab on the course, opening on the landing page. Your own copies of "
                    "the release notebooks are made first in my-work/ (never overwritten). "
                    "The student view (default) shows my-work/ and the landing page only, with "
                    "nbgrader's Validate button; the instructor view shows the whole course "
                    "with the Formgrader and Create Assignment.")
    p.add_argument("--edition", metavar="LANG", help="the edition's course (editions/LANG/), "
                                                     "e.g. hi")
    p.add_argument("--role", choices=("student", "instructor"), default="student",
                   help="whose view (default: student)")
    p.add_argument("--instructor", dest="role", action="store_const", const="instructor",
                   help="the same as --role instructor")
    p.add_argument("--fresh", metavar="ASSIGNMENT/NOTEBOOK",
                   help="put a fresh copy of one notebook beside yours (yours is unchanged) "
                        "and exit")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER,
                   help="after --, passed on to jupyter lab (tlcourse lab -- --port 8890)")
    return p


def run(args) -> int:
    from tlcourse.course import lab
    try:
        root = lab.edition_root(args.edition) if args.edition or args.fresh else lab.ROOT
        if args.fresh:
            copy = lab.fresh_copy(args.fresh, root)
            print(f"fresh copy: {copy.relative_to(root)} (yours is unchanged)")
            return 0
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
    return lab.start(root, args.role, extra)
