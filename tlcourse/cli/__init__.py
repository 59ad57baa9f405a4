"""The `tlcourse` command line."""
from __future__ import annotations

import argparse
import sys


def _cmd_build(args) -> int:
    from tlcourse.course import build
    return build.build(check=args.check)


def _cmd_run(args) -> int:
    from tlcourse.course import run as runner
    return runner.main(args.notebooks, profile=args.profile, timeout=args.timeout)


def _cmd_fetch(args) -> int:
    from tlcourse.cli import fetch as fetchcmd
    return fetchcmd.main(args)


def _cmd_classify(args) -> int:
    from tlcourse.cli import classify
    return classify.main(args)


def _cmd_bench(args) -> int:
    import shlex

    from tlcourse.bench import suite as bench_suite
    return bench_suite.main(args=args, command="tlcourse " + shlex.join(sys.argv[1:]))


def _cmd_attack(args) -> int:
    from tlcourse.cli import attack as attackcmd
    return attackcmd.main(args)


def _cmd_grade(args) -> int:
    from tlcourse.course import grade as grading
    return grading.main(args.assignment, students=args.student or None,
                        cell_timeout=args.cell_timeout, student_timeout=args.student_timeout,
                        feedback=not args.no_feedback)


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
    p.add_argument("--profile", choices=["smoke", "full"], default=None,
                   help="with no names: what that profile needs (default smoke: offline "
                        "assets and stand-ins; full: every model's weights and the real "
                        "datasets, downloaded once, for GPU runners)")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("classify", help="top-5 ImageNet classes for each image")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--model", default="mobilenet_v2",
                   choices=["mobilenet_v2", "efficientnet_lite0", "vgg16", "resnet50"])
    p.add_argument("--framework", default="torch", choices=["torch", "tf"])
    p.add_argument("-k", type=int, default=5, help="how many classes to show")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("bench", help="measure everything (or some parts); writes "
                                     "benchmarks/RESULTS.md and RESULTS.json")
    from tlcourse.bench.suite import add_arguments as _bench_arguments
    _bench_arguments(p)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("attack", help="targeted adversarial attack on one image")
    p.add_argument("image", help="image file (resized and centre-cropped to the model's size)")
    p.add_argument("--target", required=True, help="ImageNet class name or index, e.g. tabby")
    p.add_argument("--eps", default="4/255", help="L-infinity budget in pixel levels (4/255)")
    p.add_argument("--steps", type=int, default=20, help="most projected steps (default 20)")
    p.add_argument("--framework", choices=["torch", "tf"], default="torch")
    p.add_argument("--model", default="mobilenet_v2", help="pretrained model (mobilenet_v2)")
    p.add_argument("--out", default=None, help="write the adversarial image here (PNG)")
    p.set_defaults(func=_cmd_attack)

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
    p.set_defaults(func=_cmd_grade)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
