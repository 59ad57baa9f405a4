"""`tlcourse build [--check]`: regenerate release/, notebooks/ and the translated editions
(editions/<lang>/) from source/ and the catalogs in i18n/, and run the release checks
(tlcourse.course.release_checks) over what students will read."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("build", help="regenerate release/, notebooks/ and editions/<lang>/ "
                                     "from source/ and i18n/; exit 1 on a release-check finding "
                                     "(one line each: notebook, cell id, rule)",
                       description=__doc__.replace("`", ""))
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 and name the files out of sync and every "
                        "markdown cell whose translation is missing or stale (notebook, cell id), "
                        "and every release-check finding")
    return p


def run(args) -> int:
    from tlcourse.course import build
    return build.build(check=args.check)
