"""`tlcourse build [--check]`: regenerate release/, notebooks/ and the translated editions
(editions/<lang>/) from source/ and the catalogs in i18n/."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("build", help="regenerate release/, notebooks/ and editions/<lang>/ "
                                     "from source/ and i18n/")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 and name the files out of sync and every "
                        "markdown cell whose translation is missing or stale (notebook, cell id)")
    return p


def run(args) -> int:
    from tlcourse.course import build
    return build.build(check=args.check)
