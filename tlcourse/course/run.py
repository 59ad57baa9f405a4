"""`tlcourse run`: execute solution notebooks, print a summary table.

Each notebook runs in its own child process (which starts its own kernel), so
the peak memory reported is that notebook's kernel alone.  ``jobs`` notebooks
run at once (``--jobs``): a smoke notebook keeps less than one core busy on
average (kernel start, imports, waits), so two at once on 2 cores finish the
set sooner, while each one's own wall time grows; ``tlcourse bench notebooks``
measures them one at a time.  The table ends with the set's total wall time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tlcourse.course.build import repo_root
from tlcourse.profiles import profile_name


def find_notebooks(root: Path, selectors: list[str]) -> list[Path]:
    solutions = root / "notebooks"
    every = sorted(solutions.rglob("*.ipynb"))
    if not selectors:
        return every
    chosen = []
    for sel in selectors:
        p = Path(sel)
        if p.suffix == ".ipynb" and p.exists():
            chosen.append(p.resolve())
            continue
        hits = [nb for nb in every if sel in (nb.parent.name, nb.stem, nb.name)]
        if not hits:
            raise SystemExit(f"No solution notebook matches {sel!r}. Known: "
                             + ", ".join(f"{nb.parent.name}/{nb.name}" for nb in every))
        chosen.extend(hits)
    return chosen


def execute_one(src: Path, dest: Path, timeout: int) -> None:
    """Run in a child process: execute ``src`` and write the executed copy to ``dest``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(src.parent)}})
    try:
        client.execute()
    finally:
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)


def run_notebook(nb: Path, profile: str, out_dir: Path, timeout: int) -> dict:
    dest = out_dir / profile / nb.parent.name / nb.name
    env = dict(os.environ, TLCOURSE_PROFILE=profile)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    code = ("import sys, json, resource; from pathlib import Path; "
            "from tlcourse.course.run import execute_one; "
            f"execute_one(Path({str(nb)!r}), Path({str(dest)!r}), {timeout}); "
            "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_kb = next((int(line.split()[1]) for line in proc.stdout.splitlines()
                    if line.startswith("PEAK")), 0)
    error = ""
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
        error = lines[-1] if lines else f"exit {proc.returncode}"
    return dict(notebook=f"{nb.parent.name}/{nb.name}", profile=profile,
                status="ok" if proc.returncode == 0 else "FAILED", wall_s=wall,
                peak_mb=peak_kb / 1024, output=str(dest), error=error)


def print_table(rows: list[dict]) -> None:
    print(f"\n{'notebook':48} {'profile':7} {'status':7} {'wall':>8} {'peak mem':>9}  executed copy")
    for r in rows:
        print(f"{r['notebook']:48} {r['profile']:7} {r['status']:7} {r['wall_s']:7.1f}s "
              f"{r['peak_mb']:7.0f}MB  {r['output']}")
        if r["error"]:
            print(f"    error: {r['error']}")


def run_all(notebooks: list[Path], profile: str, out_dir: Path, timeout: int,
            jobs: int = 1) -> list[dict]:
    """``run_notebook`` for each, ``jobs`` at a time; the rows in the notebooks' order."""
    def one(nb: Path) -> dict:
        print(f"running {nb.parent.name}/{nb.name} ({profile}) ...", flush=True)
        return run_notebook(nb, profile, out_dir, timeout)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, notebooks))


def main(selectors: list[str], profile: str | None = None, timeout: int = 1800,
         jobs: int = 1) -> int:
    root = repo_root()
    profile = profile_name(profile)
    notebooks = find_notebooks(root, selectors)
    if not notebooks:
        print("No solution notebooks under notebooks/: run `tlcourse build` first.")
        return 1
    start = time.perf_counter()
    rows = run_all(notebooks, profile, root / "runs", timeout, jobs)
    total = time.perf_counter() - start
    print_table(rows)
    print(f"\n{len(rows)} notebook(s) in {total:.1f} s wall, {min(jobs, len(rows))} at a time")
    (root / "runs").mkdir(exist_ok=True)
    (root / "runs" / f"summary-{profile}.json").write_text(json.dumps(rows, indent=1))
    return 0 if all(r["status"] == "ok" for r in rows) else 1
