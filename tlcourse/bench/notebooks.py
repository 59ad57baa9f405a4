"""``tlcourse bench notebooks``: each solution notebook's wall time and peak memory,
and the TensorFlow/PyTorch time ratio of each assignment.

Every solution notebook (notebooks/*/*.ipynb) of the chosen frameworks is
executed in a fresh process (``harness``) by ``tlcourse run``'s executor
(``tlcourse.course.run.execute_one``), at the chosen profile, with an empty
feature cache (weights, photos and datasets come from the normal cache through
links, ``harness.scratch_cache``), like a student's first run.  Peak memory and
CPU time are the kernel's, read in that process after the kernel exited.

The two twins of an assignment run one after the other, so their ratio
(``ratios``: TensorFlow's time over PyTorch's, wall and CPU) compares them
under the same load.  With ``rounds`` > 1 the twins run again, in the other
order every second round (PyTorch, TF, TF, PyTorch: a load that drifts during
the run weighs on both alike), and each notebook's row keeps its fastest wall
and CPU time: on a shared machine a single run of the same notebook varied by
up to 30 %, which a ratio of 1.3 cannot absorb.
"""
from __future__ import annotations

import time
from pathlib import Path

from tlcourse.bench import harness
from tlcourse.bench.report import load_average, num, part_status, table

MAX_RATIO = 1.3   # issue 20: each TensorFlow notebook within 1.3x its PyTorch twin


def framework_of(notebook: Path) -> str:
    """"tf" for the Keras notebooks (``...TF.ipynb``), else "torch"."""
    return "tf" if notebook.stem.endswith("TF") else "torch"


def execute(notebook: str, dest: str, cell_timeout: int) -> dict:
    """In a fresh process: execute ``notebook``, write the executed copy to
    ``dest``; the peak RSS and the CPU seconds of its kernel (this process's only child)."""
    import resource

    from tlcourse.course.run import execute_one

    execute_one(Path(notebook), Path(dest), cell_timeout)
    kernel = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"peak_mb": kernel.ru_maxrss / 1024, "cpu_s": kernel.ru_utime + kernel.ru_stime}


def ratios(rows: list[dict]) -> list[dict]:
    """Per assignment with both twins measured: TensorFlow's wall and CPU time over PyTorch's."""
    out = []
    for assignment in dict.fromkeys(r["assignment"] for r in rows):
        twins = {r["framework"]: r for r in rows
                 if r["assignment"] == assignment and r["status"] == "ok"}
        if set(twins) != {"torch", "tf"}:
            continue
        torch, tf = twins["torch"], twins["tf"]
        out.append({"assignment": assignment,
                    "torch_wall_s": torch["wall_s"], "tf_wall_s": tf["wall_s"],
                    "wall_ratio": tf["wall_s"] / torch["wall_s"],
                    "torch_cpu_s": torch["cpu_s"], "tf_cpu_s": tf["cpu_s"],
                    "cpu_ratio": tf["cpu_s"] / torch["cpu_s"]})
    return out


def ratio_table(ratios_: list[dict]) -> str:
    """The ratios as a markdown table, each ratio marked when above ``MAX_RATIO``."""
    def mark(ratio):
        return f"{ratio:.2f}" + (f" **> {MAX_RATIO}**" if ratio > MAX_RATIO else "")

    return table([[r["assignment"], num(r["torch_wall_s"], 0), num(r["tf_wall_s"], 0),
                   mark(r["wall_ratio"]), num(r["torch_cpu_s"], 0), num(r["tf_cpu_s"], 0),
                   mark(r["cpu_ratio"])] for r in ratios_],
                 ["assignment", "PyTorch wall s", "TensorFlow wall s", "TF/PyTorch wall",
                  "PyTorch CPU s", "TensorFlow CPU s", "TF/PyTorch CPU"])


def run(opts) -> dict:
    """The notebooks part: one row per solution notebook."""
    from tlcourse import cache
    from tlcourse.course import run as runner
    from tlcourse.course.build import repo_root

    root = repo_root()
    notebooks = sorted((nb for nb in runner.find_notebooks(root, [])     # twins side by side
                        if framework_of(nb) in opts.frameworks),
                       key=lambda nb: (nb.parent.name, framework_of(nb) != "torch"))
    if not notebooks:
        raise RuntimeError("no solution notebooks under notebooks/: run `tlcourse build` first")
    scratch = cache.cache_dir() / "bench" / "notebooks"
    env = dict(harness.framework_homes_env(), TLCOURSE_CACHE=str(scratch),
               TLCOURSE_PROFILE=opts.profile)
    rounds = getattr(opts, "rounds", 1)
    runs = []
    for round_ in range(rounds):
        for nb in (notebooks if round_ % 2 == 0 else _twins_swapped(notebooks)):
            runs.append(_execute(nb, root, scratch, env, opts))
    rows = fastest(runs)
    twins = ratios(rows)
    for r in twins:
        harness.log(f"notebooks: {r['assignment']}: TensorFlow/PyTorch {r['wall_ratio']:.2f} "
                    f"wall, {r['cpu_ratio']:.2f} CPU")
    notes = [f"Profile `{opts.profile}`; each notebook executed by `tlcourse run`'s "
             "executor in a fresh process (kernel `python3` of this environment), with "
             "an empty feature cache (weights, photos and datasets from the normal "
             "cache); peak RSS and CPU time = the kernel's, read with "
             "getrusage(RUSAGE_CHILDREN) after it exited. Executed copies: runs/bench/."
             + (f" {rounds} rounds, the twins' order swapped every second round; each "
                "notebook's fastest wall and CPU time (every run's are in RESULTS.json)."
                if rounds > 1 else "")]
    if twins:
        loads = ", ".join(f"{r['notebook']} {r['load_1min']}" for r in rows
                          if r["load_1min"] is not None)
        notes.append(f"TensorFlow notebook time over its PyTorch twin's, the twins run one "
                     f"after the other (target: at most {MAX_RATIO}; 1-minute load average "
                     f"at each start: {loads or 'unknown'}):\n\n" + ratio_table(twins))
    return {"status": part_status(rows), "rows": rows, "ratios": twins, "notes": notes}


def _twins_swapped(notebooks: list[Path]) -> list[Path]:
    """The same notebooks, each assignment's twins in the other order (TF first)."""
    return sorted(notebooks, key=lambda nb: (nb.parent.name, framework_of(nb) == "torch"))


def _execute(nb: Path, root: Path, scratch: Path, env: dict, opts) -> dict:
    """One run of ``nb`` in a fresh process, from an empty feature cache: its row."""
    harness.scratch_cache(scratch)          # every notebook starts with no cached features
    name = f"{nb.parent.name}/{nb.name}"
    dest = root / "runs" / "bench" / opts.profile / name
    harness.log(f"notebooks: {name} ({opts.profile}) ...")
    row = {"notebook": name, "framework": framework_of(nb), "assignment": nb.parent.name,
           "profile": opts.profile, "status": "ok", "error": "", "load_1min": _load_1min()}
    start = time.perf_counter()
    try:
        row.update(harness.call_in_subprocess(
            "tlcourse.bench.notebooks:execute",
            dict(notebook=str(nb), dest=str(dest), cell_timeout=opts.cell_timeout),
            env=env, timeout=None))
    except harness.BenchError as exc:
        row.update(status="FAILED", error=exc.summary, peak_mb=None, cpu_s=None)
    row["wall_s"] = time.perf_counter() - start
    harness.log(f"notebooks: {name}: {row['status']}, {row['wall_s']:.0f} s, "
                f"{row['cpu_s'] or 0:.0f} s CPU, peak {row['peak_mb'] or 0:.0f} MB")
    return row


def fastest(runs: list[dict]) -> list[dict]:
    """One row per notebook (in first-run order) from its runs: the fastest wall and CPU
    time and the highest peak memory of its runs, and every run under ``runs``.  A
    notebook with a failed run is a failed row (the first failure's)."""
    rows = []
    for name in dict.fromkeys(r["notebook"] for r in runs):
        mine = [r for r in runs if r["notebook"] == name]
        failed = [r for r in mine if r["status"] != "ok"]
        row = dict(failed[0] if failed else mine[0])
        if not failed:
            row.update(wall_s=min(r["wall_s"] for r in mine), cpu_s=min(r["cpu_s"] for r in mine),
                       peak_mb=max(r["peak_mb"] for r in mine))
        if len(mine) > 1:
            row["runs"] = [{k: r[k] for k in ("wall_s", "cpu_s", "load_1min", "status")}
                           for r in mine]
        rows.append(row)
    return rows


def _load_1min() -> float | None:
    load = load_average()
    return load[0] if load else None
