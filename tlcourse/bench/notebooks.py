"""``tlcourse bench notebooks``: each solution notebook's wall time and peak memory.

Every solution notebook (notebooks/*/*.ipynb) of the chosen frameworks is
executed in a fresh process (``harness``) by ``tlcourse run``'s executor
(``tlcourse.course.run.execute_one``), at the chosen profile, with an empty
feature cache (weights, photos and datasets come from the normal cache through
links, ``harness.scratch_cache``), like a student's first run.  Peak memory is
the kernel's, read in that process after the kernel exited.
"""
from __future__ import annotations

import time
from pathlib import Path

from tlcourse.bench import harness
from tlcourse.bench.report import part_status


def framework_of(notebook: Path) -> str:
    """"tf" for the Keras notebooks (``...TF.ipynb``), else "torch"."""
    return "tf" if notebook.stem.endswith("TF") else "torch"


def execute(notebook: str, dest: str, cell_timeout: int) -> dict:
    """In a fresh process: execute ``notebook``, write the executed copy to
    ``dest``; the peak RSS of its kernel (this process's only child)."""
    import resource

    from tlcourse.course.run import execute_one

    execute_one(Path(notebook), Path(dest), cell_timeout)
    return {"peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def run(opts) -> dict:
    """The notebooks part: one row per solution notebook."""
    from tlcourse import cache
    from tlcourse.course import run as runner
    from tlcourse.course.build import repo_root

    root = repo_root()
    notebooks = [nb for nb in runner.find_notebooks(root, [])
                 if framework_of(nb) in opts.frameworks]
    if not notebooks:
        raise RuntimeError("no solution notebooks under notebooks/: run `tlcourse build` first")
    scratch = cache.cache_dir() / "bench" / "notebooks"
    env = dict(harness.framework_homes_env(), TLCOURSE_CACHE=str(scratch),
               TLCOURSE_PROFILE=opts.profile)
    rows = []
    for nb in notebooks:
        harness.scratch_cache(scratch)          # every notebook starts with no cached features
        name = f"{nb.parent.name}/{nb.name}"
        dest = root / "runs" / "bench" / opts.profile / name
        harness.log(f"notebooks: {name} ({opts.profile}) ...")
        row = {"notebook": name, "framework": framework_of(nb), "assignment": nb.parent.name,
               "profile": opts.profile, "status": "ok", "error": ""}
        start = time.perf_counter()
        try:
            row.update(harness.call_in_subprocess(
                "tlcourse.bench.notebooks:execute",
                dict(notebook=str(nb), dest=str(dest), cell_timeout=opts.cell_timeout),
                env=env, timeout=None))
        except harness.BenchError as exc:
            row.update(status="FAILED", error=exc.summary, peak_mb=None)
        row["wall_s"] = time.perf_counter() - start
        harness.log(f"notebooks: {name}: {row['status']}, {row['wall_s']:.0f} s, "
                    f"peak {row['peak_mb'] or 0:.0f} MB")
        rows.append(row)
    return {"status": part_status(rows), "rows": rows,
            "notes": [f"Profile `{opts.profile}`; each notebook executed by `tlcourse run`'s "
                      "executor in a fresh process (kernel `python3` of this environment), with "
                      "an empty feature cache (weights, photos and datasets from the normal "
                      "cache); peak RSS = the kernel's, read with getrusage(RUSAGE_CHILDREN) "
                      "after it exited. Executed copies: runs/bench/."]}
