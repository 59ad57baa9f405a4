"""``tlcourse bench [PART ...]``: every measurement of the course, one report.

Parts (default: all, in this order):

* ``notebooks``   each solution notebook (notebooks/*/*.ipynb) executed in a fresh
                  process with an empty feature cache: wall time, and the peak RSS
                  of its kernel (``tlcourse.course.run``);
* ``models``      forward throughput and helper overhead (``tlcourse.bench.harness``);
* ``data``        input-pipeline throughput (``tlcourse.bench.data``);
* ``adversarial`` ideal-cat probability and steps, targeted-attack success per
                  ε, transfer rate (``tlcourse.bench.adversarial``);
* ``grading``     nbgrader autograde time per submission (a few copies of one
                  solution submission, ``tlcourse.course.grade``);
* ``scaling``     the transfer-learning pipeline at three data sizes
                  (``tlcourse.bench.scaling``).

Results go to ``benchmarks/RESULTS.json`` and ``benchmarks/RESULTS.md``
(``tlcourse.bench.report``), written atomically after every part, so an
interrupted run keeps what it measured.  A part that fails is recorded as
failed with its error; the other parts still run.  Running some parts only
replaces those parts in the report and keeps the others (the report says which
run measured what).  Each framework runs in its own process.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tlcourse.bench import report

PARTS = report.PARTS
FRAMEWORKS = ("torch", "tf")
DEFAULT_OUT_DIR = Path("benchmarks")
GRADING_ASSIGNMENT = "pets_lab"
GRADING_NOTEBOOK = "OxfordPetsPyTorch"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _framework_of(notebook: Path) -> str:
    return "tf" if notebook.stem.endswith("TF") else "torch"


def _status(rows, ok=lambda r: r.get("status", "ok") == "ok") -> str:
    good = [r for r in rows if ok(r)]
    return "ok" if rows and len(good) == len(rows) else "partial" if good else "failed"


# --------------------------------------------------------------------------
# the parts: each returns {"status", "rows", ...}; exceptions are caught by run_part
# --------------------------------------------------------------------------
def part_notebooks(opts) -> dict:
    from tlcourse import cache
    from tlcourse.bench import harness as bench
    from tlcourse.course import run as runner
    from tlcourse.course.build import repo_root

    root = repo_root()
    notebooks = [nb for nb in runner.find_notebooks(root, [])
                 if _framework_of(nb) in opts.frameworks]
    if not notebooks:
        raise RuntimeError("no solution notebooks under notebooks/: run `tlcourse build` first")
    scratch = cache.cache_dir() / "bench" / "notebooks"
    rows = []
    saved = {k: os.environ.get(k) for k in ("TLCOURSE_CACHE", "TORCH_HOME", "KERAS_HOME")}
    try:
        for nb in notebooks:
            bench.scratch_cache(scratch)          # every notebook starts with no cached features
            os.environ.update(bench.framework_homes_env(), TLCOURSE_CACHE=str(scratch))
            log(f"notebooks: {nb.parent.name}/{nb.name} ({opts.profile}) ...")
            row = runner.run_notebook(nb, opts.profile, root / "runs" / "bench", opts.cell_timeout)
            row["framework"] = _framework_of(nb)
            row["assignment"] = nb.parent.name
            row.pop("output", None)
            log(f"notebooks: {row['notebook']}: {row['status']}, {row['wall_s']:.0f} s, "
                f"peak {row['peak_mb']:.0f} MB")
            rows.append(row)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"status": _status(rows, lambda r: r["status"] == "ok"), "rows": rows,
            "notes": [f"Profile `{opts.profile}`; each notebook executed by `tlcourse run`'s "
                      "runner in a fresh process (kernel `python3` of this environment), with "
                      "an empty feature cache (weights, photos and datasets from the normal "
                      "cache); peak RSS = the kernel's, read with getrusage(RUSAGE_CHILDREN) "
                      "after it exited. Executed copies: runs/bench/."]}


def part_models(opts) -> dict:
    from tlcourse.bench import harness as bench
    from tlcourse.preprocess import MODELS

    rows = bench.bench_models(models=opts.models or MODELS, frameworks=opts.frameworks,
                              batch=opts.batch, out=None,
                              print_fn=lambda m: log(m) if m.startswith("measuring") else None)
    measured = [r for r in rows if r.get("status") != "not cached"]
    bad_overhead = [r for r in rows if r.get("overhead_ok") == "NO"]
    notes = [f"CPU, batch {opts.batch}, 224x224, float32, inference only. \"helper\" = the model "
             "from `pretrained()` called through `probabilities()` on a batch `to_batch()` "
             "already made; \"bare\" = the same network built without the helper. Median of "
             "interleaved rounds after a warm-up. VGG-16 and ResNet-50 need internet for "
             "their weights: \"not cached\" here (see `benchmarks/gpu_check.sh` for their "
             "throughput with random weights)."]
    if bad_overhead:
        notes.append("**Helper overhead above 5%**: " + ", ".join(
            f"{r['model']} ({r['framework']})" for r in bad_overhead))
    return {"status": _status(measured), "rows": rows, "notes": notes}


def part_data(opts) -> dict:
    from tlcourse.bench import data as bench_data

    rows = bench_data.measure_all(opts.frameworks, log=log)
    return {"status": _status(rows, lambda r: "images_per_s" in r), "rows": rows,
            "notes": ["Cats vs Dogs train split of the profile in force through each "
                      "framework's `make_loader` (PIL decode, then random resized crop + flip "
                      "for train, resize + centre crop for eval, to 224x224, normalised), "
                      "batch 32, 256 images after a warm-up batch, in-memory cache off. "
                      "tf.data workers = 0 means autotuned parallel calls. Compare with the "
                      "models' forward throughput above: a pipeline slower than the model "
                      "starves it."]}


def part_adversarial(opts) -> dict:
    from tlcourse.bench import harness as bench

    rows = []
    for fw in opts.frameworks:
        log(f"adversarial: {fw} ...")
        try:
            r = bench.call_in_subprocess("tlcourse.bench.adversarial", "measure",
                                         dict(framework=fw, profile=opts.profile), timeout=3600)
            c = r["ideal_cat"]
            log(f"adversarial: {fw}: ideal cat p={c['p_cat']:.3f}, transfer "
                f"{r['transfer']['fooled']}/{r['transfer']['total']}")
        except bench.BenchError as exc:
            r = {"framework": fw, "status": "failed", "error": str(exc)}
            log(f"adversarial: {fw}: FAILED {exc}")
        rows.append(r)
    return {"status": _status(rows), "rows": rows,
            "notes": ["MobileNetV2 with torchvision's ImageNet weights in both frameworks (the "
                      "Keras model is the port of the same file); EfficientNet-Lite0 as the "
                      "second network. Dog photos: the offline ImageNet sample photos whose "
                      "class is a dog breed."]}


def part_grading(opts) -> dict:
    from tlcourse import cache
    from tlcourse.bench import harness as bench
    from tlcourse.course import grade as grading
    from tlcourse.course.build import repo_root
    from tlcourse.profiles import get_profile

    root = repo_root()
    solution = root / "notebooks" / GRADING_ASSIGNMENT / f"{GRADING_NOTEBOOK}.ipynb"
    if not solution.is_file():
        raise RuntimeError(f"{solution} is missing: run `tlcourse build` first")
    scratch = bench.scratch_cache(cache.cache_dir() / "bench" / "grading")
    env = bench.framework_homes_env({})
    env.update(TLCOURSE_PROFILE=opts.profile, TLCOURSE_CACHE=str(scratch))
    P = get_profile(opts.profile)
    with tempfile.TemporaryDirectory(prefix="tlcourse-bench-grading-") as tmp:
        t0 = time.perf_counter()
        course = grading.make_course(root, Path(tmp) / "course", [GRADING_ASSIGNMENT])
        setup_s = time.perf_counter() - t0
        students = [f"student{i + 1}" for i in range(opts.copies)]
        for s in students:
            grading.submit(course, s, GRADING_ASSIGNMENT, [solution])
        log(f"grading: {len(students)} copies of {solution.name} ...")
        results = grading.grade_class(course, GRADING_ASSIGNMENT, students=students,
                                      cell_timeout=P.grading_cell_timeout, extra_env=env,
                                      log=lambda m: log(f"grading: {m}"))
    rows = [{"student": r.student, "status": r.status, "score": r.score,
             "max_score": r.max_score, "seconds": r.seconds, "failed": r.failed}
            for r in results]
    secs = [r["seconds"] for r in rows]
    full = all(r["status"] == "ok" and r["score"] == r["max_score"] and r["max_score"] > 0
               for r in rows)
    summary = {"assignment": GRADING_ASSIGNMENT, "notebook": GRADING_NOTEBOOK,
               "framework": "torch", "copies": len(rows), "setup_s": setup_s,
               "seconds_per_submission": sum(secs) / len(secs) if secs else None,
               "first_s": secs[0] if secs else None,
               "later_mean_s": sum(secs[1:]) / len(secs[1:]) if len(secs) > 1 else None,
               "feature_cache": "empty before the first submission (later ones reuse the "
                                "features it computed, as on a grading machine)",
               "all_full_marks": full}
    notes = [f"Each submission autograded in its own nbgrader process (per-cell limit "
             f"{P.grading_cell_timeout} s), profile `{opts.profile}`; set-up = copying the "
             "course and `nbgrader generate_assignment` (the gradebook)."]
    if not full:
        notes.append("**Not every copy of the solution got full marks**: see the rows.")
    return {"status": "ok" if full else "partial" if rows else "failed", "rows": rows,
            "summary": summary, "notes": notes}


def part_scaling(opts) -> dict:
    from tlcourse.bench import scaling as bench_scaling

    return bench_scaling.run(sizes=opts.sizes, frameworks=opts.frameworks,
                             image_size=opts.scaling_image_size, profile=opts.profile, log=log)


PART_FUNCS = {"notebooks": part_notebooks, "models": part_models, "data": part_data,
              "adversarial": part_adversarial, "grading": part_grading,
              "scaling": part_scaling}


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


def _prepare(opts) -> str | None:
    """Make sure the offline assets and stand-ins are in the cache (`tlcourse fetch`)."""
    import subprocess

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
    problem = _prepare(opts) if getattr(opts, "prepare", True) else None
    if problem:
        log(problem)
        run_rec["note"] = problem
    done: dict = {}
    results = report.read_results(out_dir / "RESULTS.json")
    for name in parts:
        log(f"== {name}")
        done[name] = run_part(name, opts)
        log(f"== {name}: {done[name]['status']} in {done[name]['seconds']:.0f} s")
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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("parts", nargs="*", metavar="PART",
                   help=f"what to measure: {', '.join(PARTS)} (default: all)")
    p.add_argument("--framework", action="append", choices=FRAMEWORKS,
                   help="only this framework (repeatable; default both)")
    p.add_argument("--model", action="append", help="models part: only this model (repeatable)")
    p.add_argument("--batch", type=int, default=32, help="models part: batch size (32)")
    p.add_argument("--sizes", type=parse_sizes, default=None,
                   help="scaling part: data sizes in images, comma-separated (500,2000,8000)")
    p.add_argument("--scaling-image-size", type=int, default=None,
                   help="scaling part: input size of the base in pixels (160, the smoke profile's)")
    p.add_argument("--copies", type=int, default=3,
                   help="grading part: copies of the solution submission to autograde (3)")
    p.add_argument("--profile", choices=["smoke", "full"], default="smoke",
                   help="profile for the notebooks, data and adversarial parts (smoke)")
    p.add_argument("--cell-timeout", type=int, default=1800,
                   help="notebooks part: seconds per cell (1800)")
    p.add_argument("--out-dir", default=str(DEFAULT_OUT_DIR),
                   help="where RESULTS.md and RESULTS.json go (benchmarks)")
    p.add_argument("--render", action="store_true",
                   help="measure nothing: rewrite RESULTS.md (and README's table) from "
                        "RESULTS.json, e.g. after a change to the report's layout")


def main(argv=None, args=None, command: str | None = None) -> int:
    if args is None:
        p = argparse.ArgumentParser(prog="tlcourse bench", description=__doc__.split("\n\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    if getattr(args, "render", False):
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
    parts = list(dict.fromkeys(args.parts)) or list(PARTS)
    unknown = [x for x in parts if x not in PARTS]
    if unknown:
        print(f"tlcourse bench: unknown part(s) {', '.join(unknown)}; choose from "
              f"{', '.join(PARTS)}", file=sys.stderr)
        return 2
    from tlcourse.bench import scaling as bench_scaling

    args.frameworks = tuple(args.framework or FRAMEWORKS)
    args.models = args.model
    args.sizes = args.sizes or list(bench_scaling.SIZES)
    args.scaling_image_size = args.scaling_image_size or bench_scaling.IMAGE_SIZE
    if command is None:
        command = "tlcourse bench" + (" " + shlex.join(argv) if argv else "")
    results = run(parts, args, Path(args.out_dir), command=command)
    md = Path(args.out_dir) / "RESULTS.md"
    print()
    print(report.summary_table(results))
    print(f"\nwritten: {md} and {md.with_suffix('.json')}")
    failed = [k for k in parts if results["parts"][k]["status"] != "ok"]
    if failed:
        print(f"failed or partly failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
