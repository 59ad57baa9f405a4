"""The `tlcourse` command line: one parser, one module per subcommand.

Each subcommand module (``build``, ``run``, ``fetch``, ``classify``, ``attack``,
``bench``, ``grade``, ``hub``, ``lab``, ``i18n``) has ``add_parser(subparsers)`` and ``run(args) -> int``.
``main`` is the one place where failures become messages:

* a bad argument (``UsageError``, or argparse's own) is one line naming the value
  and what is allowed, exit status 2; subcommands check their arguments before
  loading any model or dataset;
* a failure the user can act on (an asset that cannot be had, an unreadable
  image, a dataset problem, a full disk) is one line, exit status 1;
* Ctrl-C is one line and exit status 130 (128 + SIGINT, as shells report it);
* anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tlcourse.cli.checks import UsageError


def subcommands() -> tuple:
    """The subcommand modules, in the order ``tlcourse --help`` lists them: plain
    imports (editors follow them), made when the parser is built, not when
    ``tlcourse.cli`` is imported."""
    from tlcourse.cli import attack, bench, build, classify, fetch, grade, hub, i18n, lab, run
    return (build, run, fetch, classify, attack, bench, grade, hub, lab, i18n)


def expected_failures() -> tuple[type[BaseException], ...]:
    """Errors that carry a message meant for the user (no traceback needed)."""
    from tlcourse.assets import AssetError
    from tlcourse.datasets import DatasetError
    from tlcourse.images import UnreadableImage
    return (AssetError, DatasetError, UnreadableImage)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlcourse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in subcommands():
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        # every write is atomic and downloads resume: the rerun picks up from here
        print(f"tlcourse {args.command}: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130
    except UsageError as exc:
        print(f"tlcourse {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except expected_failures() as exc:
        print(f"tlcourse {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        from tlcourse import cache
        if not cache.is_out_of_space(exc):
            raise
        where = Path(exc.filename).parent if exc.filename else cache.cache_dir()
        print(f"tlcourse {args.command}: {cache.no_room(where, None, 'write')}", file=sys.stderr)
        return 1
