"""The `tlcourse` command line."""
from __future__ import annotations

import argparse
import sys


def _cmd_build(args) -> int:
    from tlcourse import build
    return build.build(check=args.check)


def _cmd_run(args) -> int:
    from tlcourse import runner
    return runner.main(args.notebooks, profile=args.profile, timeout=args.timeout)


def _cmd_fetch(args) -> int:
    from tlcourse import fetchcmd
    return fetchcmd.main(args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tlcourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="regenerate release/ and notebooks/ from source/")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 and name the files that are out of sync")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("run", help="execute solution notebooks and print a summary table")
    p.add_argument("notebooks", nargs="*", help="notebook paths or assignment names (default: all)")
    p.add_argument("--profile", choices=["smoke", "full"], default=None,
                   help="default: $TLCOURSE_PROFILE, else full")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("fetch", help="download/verify assets into the cache")
    p.add_argument("names", nargs="*", help="asset or dataset names (default: what smoke needs)")
    p.add_argument("--list", action="store_true", help="show every asset, cached or not")
    p.add_argument("--standin", action="store_true",
                   help="for datasets: write the offline stand-in instead of downloading")
    p.set_defaults(func=_cmd_fetch)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
