"""`tlcourse run [--profile] [NOTEBOOK...]`: execute solution notebooks, print time and memory."""
from __future__ import annotations

from tlcourse.cli.checks import int_in_range


def add_parser(sub):
    p = sub.add_parser("run", help="execute solution notebooks and print a summary table")
    p.add_argument("notebooks", nargs="*", help="notebook paths or assignment names (default: all)")
    p.add_argument("--profile", choices=["smoke", "full"], default=None,
                   help="default: $TLCOURSE_PROFILE, else full")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    p.add_argument("--jobs", type=int, default=1,
                   help="notebooks run at once (default 1; each one's wall time then grows)")
    return p


def run(args) -> int:
    from tlcourse.course import run as runner
    int_in_range(args.timeout, "--timeout", 1)
    int_in_range(args.jobs, "--jobs", 1)
    return runner.main(args.notebooks, profile=args.profile, timeout=args.timeout, jobs=args.jobs)
