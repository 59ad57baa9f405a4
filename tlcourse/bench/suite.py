"""``tlcourse bench [PART ...]``: every measurement of the course, one report.

Parts (default: all, in this order), one module each in ``tlcourse.bench``:

* ``notebooks``   each solution notebook executed with an empty feature cache:
                  wall time, and the peak RSS of its kernel;
* ``models``      forward throughput and helper overhead;
* ``data``        input-pipeline throughput;
* ``adversarial`` ideal-cat probability and steps, targeted-attack success per
                  ε, transfer rate;
* ``grading``     nbgrader autograde time per submission (a few copies of one
                  solution submission);
* ``scaling``     the transfer-learning pipeline at three data sizes.

This module only orchestrates: it parses the parts, runs each part's
``run(opts)`` (the parts measure in fresh processes through
``tlcourse.bench.harness``), and records the results with
``tlcourse.bench.report`` in ``benchmarks/RESULTS.json`` and
``benchmarks/RESULTS.md``, written atomically after every part, so an
interrupted run keeps what it measured.  A part that fails is recorded as
failed with its error; the other parts still run.  Running some parts only
replaces those parts in the report and keeps the others (the report says which
run measured what).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from tlcourse.bench import adversarial, data, grading, models, notebooks, report, scaling
from tlcourse.bench.harness import log
from tlcourse.contract import FRAMEWORKS
from tlcourse.preprocess import MODELS
from tlcourse.profiles import PROFILES

PARTS = report.PARTS
DEFAULT_OUT_DIR = Path("benchmarks")
PART_FUNCS = {"notebooks": notebooks.run, "models": models.run, "data": data.run,
              "adversarial": adversarial.run, "grading": grading.run, "scaling": scaling.run}


def run_part(name: str, opts) -> dict:
    """One part, timed; a failure becomes ``{"status": "failed", "error": ...}``."""
    start = time.perf_counter()
    try:
        part = PART_FUNCS[name](opts)
    except Exception as exc:   # the report says so, and the other parts still run
        traceback.print_exc()
        part = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "rows": []}
    part["seconds"] = time.perf_counter() - start
    part["measured_at"] = report.now()
    part["load_after"] = report.load_average()
    return part


def _prepare() -> str | None:
    """Make sure the offline assets and stand-ins are in the cache (`tlcourse fetch`)."""
    proc = subprocess.run([sys.executable, "-m", "tlcourse.cli", "fetch"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        return "`tlcourse fetch` failed before the run: " + " / ".join(tail)
    return None


def run(parts, opts, out_dir: Path = DEFAULT_OUT_DIR, command: str = "tlcourse bench") -> dict:
    """Run ``parts``, writing the report after each; return the merged results."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # children inherit it
    os.environ["TLCOURSE_PROFILE"] = opts.profile
    out_dir = Path(out_dir)
    run_id, run_rec = report.new_run(command)
    log(f"bench: {', '.join(parts)} -> {out_dir}/RESULTS.md (run {run_id}, load average "
        f"{run_rec['load_start']})")
    problem = _prepare() if getattr(opts, "prepare", True) else None
    if problem:
        log(problem)
        run_rec["note"] = problem
    done: dict = {}
    results = report.read_results(out_dir / "RESULTS.json")
    for name in parts:
        key = report.part_key(name, opts.profile)
        log(f"== {key}")
        done[key] = run_part(name, opts)
        log(f"== {key}: {done[key]['status']} in {done[key]['seconds']:.0f} s")
        results_now = report.merge(results, run_id, report.finish_run(dict(run_rec)), done)
        report.write_report(results_now, out_dir)
    results = report.merge(results, run_id, report.finish_run(run_rec), done)
    report.write_report(results, out_dir)
    _update_readme(out_dir, results)
    return results


def _update_readme(out_dir: Path, results: dict) -> None:
    """The README's summary table follows the repository's own benchmarks/RESULTS.json."""
    from tlcourse.course.build import repo_root

    try:
        root = repo_root()
    except SystemExit:
        return
    if Path(out_dir).resolve() == (root / DEFAULT_OUT_DIR).resolve():
        if report.update_readme(root / "README.md", results):
            log("README.md: benchmark summary table updated")


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants numbers like 500,2000,8000, not {text!r}")
    if not sizes or min(sizes) < 20:
        raise argparse.ArgumentTypeError("--sizes: at least one size, each at least 20 images")
    return sizes


def parse_rounds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--rounds wants a whole number >= 1, not {text!r}")
    return int(text)


def part_name(text: str) -> str:
    """A PART argument: one of ``PARTS`` (a bad one is argparse's one-line error, exit 2)."""
    if text not in PARTS:
        raise argparse.ArgumentTypeError(f"unknown part {text!r}; choose from {', '.join(PARTS)}")
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("parts", nargs="*", metavar="PART", type=part_name,
                   help=f"what to measure: {', '.join(PARTS)} (default: all)")
    p.add_argument("--framework", action="append", choices=FRAMEWORKS,
                   help="only this framework (repeatable; default both)")
    p.add_argument("--model", action="append", choices=MODELS,
                   help="models part: only this model (repeatable)")
    p.add_argument("--batch", type=int, default=32, help="models part: batch size (32)")
    p.add_argument("--sizes", type=parse_sizes, default=None,
                   help="scaling part: data sizes in images, comma-separated (500,2000,8000)")
    p.add_argument("--scaling-image-size", type=int, default=None,
                   help="scaling part: input size of the base in pixels (160, the smoke profile's)")
    p.add_argument("--copies", type=int, default=3,
                   help="grading part: copies of the solution submission to autograde (3)")
    p.add_argument("--profile", choices=list(PROFILES), default="smoke",
                   help="profile for the notebooks, data and adversarial parts (smoke)")
    p.add_argument("--cell-timeout", type=int, default=1800,
                   help="notebooks part: seconds per cell (1800)")
    p.add_argument("--only", action="append", metavar="NOTEBOOK",
                   help="notebooks part: only this assignment (e.g. pets_lab) or notebook "
                        "(e.g. OxfordPetsPyTorch); repeatable (default: all six)")
    p.add_argument("--rounds", type=parse_rounds, default=2,
                   help="notebooks part: runs of each notebook, the twins' order swapped "
                        "every second round; the fastest counts (2)")
    p.add_argument("--out-dir", default=str(DEFAULT_OUT_DIR),
                   help="where RESULTS.md and RESULTS.json go (benchmarks)")
    p.add_argument("--render", action="store_true",
                   help="measure nothing: rewrite RESULTS.md (and README's table) from "
                        "RESULTS.json, e.g. after a change to the report's layout")


def main(args, command: str) -> int:
    """``tlcourse bench``: ``args`` as its parser (``add_arguments``) read them."""
    if args.render:
        out_dir = Path(args.out_dir)
        results = report.read_results(out_dir / "RESULTS.json")
        if not results["parts"]:
            print(f"tlcourse bench --render: no results in {out_dir / 'RESULTS.json'}",
                  file=sys.stderr)
            return 1
        report.write_report(results, out_dir)
        _update_readme(out_dir, results)
        print(report.summary_table(results))
        return 0
    parts = list(dict.fromkeys(args.parts)) or list(PARTS)   # part_name checked each one
    args.frameworks = tuple(args.framework or FRAMEWORKS)
    args.models = args.model
    if args.only and "notebooks" in parts:
        from tlcourse.course.build import repo_root
        try:     # a bad name is said before anything is measured
            notebooks.select_notebooks(repo_root(), args.frameworks, args.only)
        except ValueError as exc:     # as the command line says a usage error
            print(f"tlcourse bench: error: {exc}", file=sys.stderr)
            return 2
    results = run(parts, args, Path(args.out_dir), command=command)
    md = Path(args.out_dir) / "RESULTS.md"
    print()
    print(report.summary_table(results))
    print(f"\nwritten: {md} and {md.with_suffix('.json')}")
    keys = [report.part_key(k, args.profile) for k in parts]
    failed = [k for k in keys if results["parts"][k]["status"] != "ok"]
    if failed:
        print(f"failed or partly failed: {', '.join(failed)}")
    return 1 if failed else 0
