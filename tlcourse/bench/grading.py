"""``tlcourse bench grading``: nbgrader autograde time per submission.

A scratch course (our source/ and config, the gradebook made by ``nbgrader
generate_assignment``) gets a few copies of one solution notebook as the
submissions of as many students, and ``tlcourse grade``'s ``grade_class``
autogrades them one student at a time, each in the bubblewrap sandbox, as on a
grading machine.  The whole measurement runs in a fresh process (``harness``)
whose feature cache starts empty; a sandboxed kernel's new features are thrown
away with its scratch space, so every copy computes them.  One more student is
then graded without and with the sandbox, alternately, after a warm-up run that
fills the feature cache, for the sandbox's cost as a ratio measured in one run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from statistics import mean

from tlcourse.bench import harness

ASSIGNMENT = "pets_lab"
NOTEBOOK = "OxfordPetsPyTorch"
# Parallel grading: a simulated class of the tiny assignment, 1 and 2 workers.
CLASS_SIZE = 20
WORKERS = (1, 2)


def measure(profile: str, copies: int) -> dict:
    """In a fresh process: grade ``copies`` copies of the solution; the part's rows and summary."""
    from tlcourse.course import grade as grading
    from tlcourse.course.build import repo_root
    from tlcourse.profiles import get_profile

    root = repo_root()
    solution = root / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    if not solution.is_file():
        raise RuntimeError(f"{solution} is missing: run `tlcourse build` first")
    cell_timeout = get_profile(profile).grading_cell_timeout
    with tempfile.TemporaryDirectory(prefix="tlcourse-bench-grading-") as tmp:
        t0 = time.perf_counter()
        course = grading.make_course(root, Path(tmp) / "course", [ASSIGNMENT])
        setup_s = time.perf_counter() - t0
        students = [f"student{i + 1}" for i in range(copies)]
        for s in students:
            grading.submit(course, s, ASSIGNMENT, [solution])
        box = grading.open_sandbox()
        try:
            results = grading.grade_class(course, ASSIGNMENT, students=students,
                                          cell_timeout=cell_timeout, log=lambda m: None,
                                          sandbox=box)
        finally:
            box.close()
        grading.submit(course, "sandbox_check", ASSIGNMENT, [solution])
        overhead = grading.sandbox_overhead(course, ASSIGNMENT, "sandbox_check", cell_timeout)
    rows = [{"student": r.student, "status": r.status, "score": r.score,
             "max_score": r.max_score, "seconds": r.seconds, "failed": r.failed}
            for r in results]
    secs = [r["seconds"] for r in rows]
    full = bool(rows) and all(r["status"] == "ok" and r["score"] == r["max_score"]
                              and r["max_score"] > 0 for r in rows)
    summary = {"assignment": ASSIGNMENT, "notebook": NOTEBOOK, "framework": "torch",
               "copies": len(rows), "setup_s": setup_s,
               "seconds_per_submission": sum(secs) / len(secs) if secs else None,
               "first_s": secs[0] if secs else None,
               "later_mean_s": sum(secs[1:]) / len(secs[1:]) if len(secs) > 1 else None,
               "feature_cache": "empty, and kept so: each sandboxed kernel computes the "
                                "features in its scratch space, thrown away after it (run the "
                                "solution once, `tlcourse run`, to fill a grading machine's)",
               "all_full_marks": full, "sandbox": "on",
               "sandbox_without_s": mean(overhead["without_s"]),
               "sandbox_with_s": mean(overhead["with_s"]), "sandbox_ratio": overhead["ratio"],
               "sandbox_runs": {"without_s": overhead["without_s"], "with_s": overhead["with_s"]},
               "sandbox_setup_s": overhead["sandbox_setup_s"]}
    return {"rows": rows, "summary": summary, "cell_timeout": cell_timeout}


def run(opts) -> dict:
    """The grading part: ``opts.copies`` submissions at ``opts.profile``."""
    from tlcourse import cache

    scratch = harness.scratch_cache(cache.cache_dir() / "bench" / "grading")
    env = dict(harness.framework_homes_env(), TLCOURSE_PROFILE=opts.profile,
               TLCOURSE_CACHE=str(scratch))
    harness.log(f"grading: {opts.copies} copies of {NOTEBOOK} ...")
    result = harness.call_in_subprocess("tlcourse.bench.grading:measure",
                                        dict(profile=opts.profile, copies=opts.copies),
                                        env=env, timeout=None)
    rows, summary = result["rows"], result["summary"]
    for r in rows:
        harness.log(f"grading: {r['student']}: {r['status']}, {r['score']} / "
                    f"{r['max_score']}, {r['seconds']:.0f} s")
    notes = [f"Each submission autograded in its own nbgrader process (per-cell limit "
             f"{result['cell_timeout']} s), profile `{opts.profile}`; set-up = copying the "
             "course and `nbgrader generate_assignment` (the gradebook)."]
    runs = summary["sandbox_runs"]
    notes.append(f"The sandbox's cost: the same submission graded {len(runs['with_s'])} times "
                 "without and with it, back to back, the order swapped every round, after an "
                 "unsandboxed warm-up run that left its features in the cache: without "
                 f"{', '.join(f'{x:.1f}' for x in runs['without_s'])} s, with "
                 f"{', '.join(f'{x:.1f}' for x in runs['with_s'])} s, median of the rounds' "
                 f"ratios **{summary['sandbox_ratio']:.2f}**; the sandbox's set-up, once per "
                 f"`tlcourse grade`, {summary['sandbox_setup_s']:.1f} s.")
    full = summary["all_full_marks"]
    if not full:
        notes.append("**Not every copy of the solution got full marks**: see the rows.")
    summary["workers"], more = parallel(summary.get("seconds_per_submission"))
    notes += more
    return {"status": "ok" if full else "partial" if rows else "failed", "rows": rows,
            "summary": summary, "notes": notes}


def measure_workers(where: Path, students: int = 20, workers=(1, 2),
                    gradebooks: dict | None = None, sandbox: bool = True) -> list[dict]:
    """In a fresh process: submissions graded per minute by ``grade_class`` (sandboxed,
    as `tlcourse grade`) with each number of ``workers`` and each gradebook (name ->
    URL, None for SQLite), on a simulated class of the tiny assignment (every other
    student the solution, the others the untouched student version); each run in a
    fresh course under ``where``."""
    from tlcourse.course import gradebook, tiny
    from tlcourse.course.build import run_nbgrader
    from tlcourse.course.grade import grade_class, open_sandbox, submit

    rows = []
    serial = {}
    for name, db_url in (gradebooks or {"SQLite": None}).items():
        for n in workers:
            course = Path(where) / f"{name}-{n}"
            course.mkdir(parents=True)
            shutil.copy(Path(__file__).resolve().parents[2] / "nbgrader_config.py", course)
            tiny.write_source(course)
            env_backup = os.environ.get(gradebook.ENV_VAR)
            os.environ.pop(gradebook.ENV_VAR, None)
            if db_url:
                os.environ[gradebook.ENV_VAR] = db_url
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    run_nbgrader(["generate_assignment", tiny.ASSIGNMENT, "--force",
                                  f"--CourseDirectory.release_directory={tmp}",
                                  "--log-level=WARN"], cwd=course)
                    handout = Path(tmp) / tiny.ASSIGNMENT / f"{tiny.NOTEBOOK}.ipynb"
                    names = [f"{name.lower()}{n}-s{i + 1:02d}" for i in range(students)]
                    for i, student in enumerate(names):
                        dest = submit(course, student, tiny.ASSIGNMENT, [handout])
                        if i % 2 == 0:
                            tiny.solve(dest / handout.name)
                box = open_sandbox() if sandbox else None
                try:
                    start = time.perf_counter()
                    results = grade_class(course, tiny.ASSIGNMENT, names, cell_timeout=60,
                                          log=lambda *_: None, sandbox=box, workers=n)
                    seconds = time.perf_counter() - start
                finally:
                    if box:
                        box.close()
            finally:
                os.environ.pop(gradebook.ENV_VAR, None)
                if env_backup is not None:
                    os.environ[gradebook.ENV_VAR] = env_backup
            got = [(r.score, r.max_score, r.status) for r in results]
            serial.setdefault(name, got)
            rows.append({"gradebook": name, "workers": n, "submissions": len(results),
                         "seconds": round(seconds, 1),
                         "per_minute": round(60 * len(results) / seconds, 1),
                         "full_marks": sum(r.score == r.max_score for r in results),
                         "same_as_first_run": got == serial[name]})
    return rows


def parallel(pets_s: float | None) -> tuple[list, list]:
    """Grading with 1 and 2 workers on SQLite (and on PostgreSQL when
    TLCOURSE_GRADEBOOK_URL names one): rows and the notes that report them."""
    from tlcourse.course import gradebook

    books = {"SQLite": None}
    if os.environ.get(gradebook.ENV_VAR):
        books["PostgreSQL"] = os.environ[gradebook.ENV_VAR]
    where = Path(tempfile.mkdtemp(prefix="tlcourse-bench-workers-"))
    cache = where / "cache"               # the tiny assignment reads nothing from a cache
    cache.mkdir(mode=0o755)
    where.chmod(0o755)
    try:
        env = {k: v for k, v in os.environ.items() if k != gradebook.ENV_VAR}
        env["TLCOURSE_CACHE"] = str(cache)
        harness.log(f"grading: {CLASS_SIZE} tiny submissions with {WORKERS} workers, "
                    f"{', '.join(books)} ...")
        rows = harness.call_in_subprocess(
            "tlcourse.bench.grading:measure_workers",
            dict(where=str(where / "runs"), students=CLASS_SIZE, workers=list(WORKERS),
                 gradebooks=books), env=env, timeout=None)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    notes = [f"Parallel grading (`tlcourse grade --workers N`, sandboxed), {r['submissions']} "
             f"tiny submissions, {r['gradebook']}, {r['workers']} worker(s): "
             f"**{r['per_minute']} submissions/min** ({r['seconds']} s; scores "
             f"{'identical to' if r['same_as_first_run'] else '**different from**'} the first run)"
             for r in rows]
    serial = next((r for r in rows if r["workers"] == 1), None)
    if serial and pets_s:
        tiny_s = serial["seconds"] / serial["submissions"]
        notes.append(f"Estimate, 300 students on a 16-core grader with `--workers 16` (one worker "
                     f"per core, assumed to scale linearly; measure on the machine itself): "
                     f"tiny assignment {300 * tiny_s / 16 / 60:.1f} min, `{ASSIGNMENT}` "
                     f"{300 * pets_s / 16 / 60:.1f} min (needs ~1.3 GB of memory per worker).")
    return rows, notes
