"""`tlcourse bench [PART...]`: every measurement, into benchmarks/RESULTS.md and RESULTS.json."""
from __future__ import annotations

import shlex
import sys


def add_parser(sub):
    from tlcourse.bench.suite import add_arguments
    p = sub.add_parser("bench", help="measure everything (or some parts); writes "
                                     "benchmarks/RESULTS.md and RESULTS.json")
    add_arguments(p)
    return p


def run(args) -> int:
    from tlcourse.bench import suite
    return suite.main(args=args, command="tlcourse " + shlex.join(sys.argv[1:]))
