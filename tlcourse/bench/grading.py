"""``tlcourse bench grading``: nbgrader autograde time per submission.

A scratch course (our source/ and config, the gradebook made by ``nbgrader
generate_assignment``) gets a few copies of one solution notebook as the
submissions of as many students, and ``tlcourse grade``'s ``grade_class``
autogrades them one student at a time, each in the bubblewrap sandbox, as on a
grading machine.  One more student is then graded without and with the sandbox,
back to back, for the sandbox's cost as a ratio measured in one run.  The whole
measurement runs in a fresh process (``harness``) whose feature cache starts
empty: the first submission computes the features, later ones reuse them.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tlcourse.bench import harness

ASSIGNMENT = "pets_lab"
NOTEBOOK = "OxfordPetsPyTorch"


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
               "feature_cache": "empty before the first submission (later ones reuse the "
                                "features it computed, as on a grading machine)",
               "all_full_marks": full, "sandbox": "on",
               "sandbox_without_s": overhead["without_s"], "sandbox_with_s": overhead["with_s"],
               "sandbox_ratio": overhead["ratio"]}
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
    full = summary["all_full_marks"]
    if not full:
        notes.append("**Not every copy of the solution got full marks**: see the rows.")
    return {"status": "ok" if full else "partial" if rows else "failed", "rows": rows,
            "summary": summary, "notes": notes}
