"""`tlcourse build [--check]`: regenerate release/ and notebooks/ from source/."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("build", help="regenerate release/ and notebooks/ from source/")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 and name the files that are out of sync")
    return p


def run(args) -> int:
    from tlcourse.course import build
    return build.build(check=args.check)
