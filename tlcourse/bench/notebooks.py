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

At ``--profile laptop`` the notebooks run on real-sized stand-ins (``tlcourse.standin``,
``real_sized=True``: the real photos' sizes and the laptop's counts), written once
into ``<cache>/bench/standin-real-sized-<key>/`` (``real_sized_key``) and
linked into the run's scratch cache where the real downloads go, never into the
user's datasets; their marker file keeps every figure and number labelled
"stand-in data".  Every row also gives the seconds per section (``SECTION_KINDS``),
from the cell times nbclient records in the executed copy.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import inspect
import itertools
import json
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np

from tlcourse.bench import harness
from tlcourse.bench.report import load_average, num, part_status, section_table, table

MAX_RATIO = 1.3   # issue 20: each TensorFlow notebook within 1.3x its PyTorch twin

# What kind of work a notebook's level-2 heading starts, by the first pattern found in
# it (lower case); deeper headings belong to the section above them, cells before the
# first level-2 heading are "setup" (imports, profile), and any other heading is "study"
# (looking inside, checks, attacks, knowledge checks).
SECTION_KINDS = (
    ("fine-tuning", r"\bfine-tuning\b"),
    ("features", r"fixed feature extractor|the pretrained base|lighter model against"),
    ("training", r"frozen base of a new model|the model \(|training|learning rate|"
                 r"accuracy target|trains your pipeline|new task"),
    ("data", r"\bdata\b|label map|train / val / test|input pipeline"),
    ("setup", r"^setup$"),
)
KINDS = ("setup", "data", "features", "training", "fine-tuning", "study")
# the datasets each assignment's notebooks load: a laptop run writes only those
ASSIGNMENT_DATASETS = {"transfer_learning": ("cats_dogs",), "pets_lab": ("oxford_pets",),
                       "adversarial_cat": ()}


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


def select_notebooks(root: Path, frameworks, only=None) -> list[Path]:
    """The solution notebooks of ``frameworks``, twins side by side (PyTorch first);
    with ``only`` (assignment or notebook names), just those.  ``ValueError`` names
    an ``only`` that matches none."""
    from tlcourse.course import run as runner

    every = runner.find_notebooks(root, [])
    unknown = [sel for sel in only or () if not any(sel in (nb.parent.name, nb.stem, nb.name)
                                                    for nb in every)]
    if unknown:
        raise ValueError(f"--only {unknown[0]!r} matches no solution notebook; use an "
                         "assignment (" + ", ".join(sorted({nb.parent.name for nb in every}))
                         + ") or a notebook (e.g. " + (every[0].stem if every else "?") + ")")
    return sorted((nb for nb in every if framework_of(nb) in frameworks
                   and (not only or {nb.parent.name, nb.stem, nb.name} & set(only))),
                  key=lambda nb: (nb.parent.name, framework_of(nb) != "torch"))


def run(opts) -> dict:
    """The notebooks part: one row per solution notebook."""
    from tlcourse import cache
    from tlcourse.course.build import repo_root

    root = repo_root()
    notebooks = select_notebooks(root, opts.frameworks, getattr(opts, "only", None))
    if not notebooks:
        raise RuntimeError("no solution notebooks under notebooks/: run `tlcourse build` first")
    laptop = opts.profile == "laptop"
    scratch = cache.cache_dir() / "bench" / ("notebooks-laptop" if laptop else "notebooks")
    # a laptop run's datasets: the real-sized stand-ins, where its notebooks look for
    # the real downloads (a folder of the scratch cache, never the user's datasets)
    standins = cache.cache_dir() / "bench" / f"standin-real-sized-{real_sized_key()}"
    own = {"datasets": standins} if laptop else {}
    env = dict(harness.framework_homes_env(), TLCOURSE_CACHE=str(scratch),
               TLCOURSE_PROFILE=opts.profile)
    notes = []
    if laptop:
        names = sorted({d for nb in notebooks for d in ASSIGNMENT_DATASETS.get(
            nb.parent.name, ("cats_dogs", "oxford_pets"))})
        harness.scratch_cache(scratch, own=own)
        harness.log(f"notebooks: real-sized stand-ins of {', '.join(names) or 'nothing'} "
                    f"(written once into {own['datasets']}) ...")
        made = harness.call_in_subprocess("tlcourse.bench.notebooks:install_standins",
                                          dict(names=names), env=env, timeout=None)
        notes.append("Data: real-sized stand-ins (synthetic pictures at the real photos' "
                     "sizes, file sizes and the laptop profile's counts; "
                     "`tlcourse.standin.REAL_SIZES`), labelled stand-in data in every "
                     "output: " + "; ".join(f"{n} {m['files']:,} files, {m['mb']:,.0f} MB"
                                            for n, m in made.items()) + ".")
    rounds = getattr(opts, "rounds", 1)
    runs = []
    for round_ in range(rounds):
        for nb in (notebooks if round_ % 2 == 0 else _twins_swapped(notebooks)):
            runs.append(_execute(nb, root, scratch, env, opts, own))
    rows = fastest(runs)
    twins = ratios(rows)
    for r in twins:
        harness.log(f"notebooks: {r['assignment']}: TensorFlow/PyTorch {r['wall_ratio']:.2f} "
                    f"wall, {r['cpu_ratio']:.2f} CPU")
    shared = ("weights and photos from the normal cache, datasets as below" if laptop
              else "weights, photos and datasets from the normal cache")
    notes.insert(0, f"Profile `{opts.profile}`; each notebook executed by `tlcourse run`'s "
                 "executor in a fresh process (kernel `python3` of this environment), with "
                 f"an empty feature cache ({shared}); peak RSS and CPU time = the kernel's, "
                 "read with "
                 "getrusage(RUSAGE_CHILDREN) after it exited. Executed copies: runs/bench/."
                 + (f" {rounds} rounds, the twins' order swapped every second round; each "
                    "notebook's fastest wall and CPU time (every run's are in RESULTS.json)."
                    if rounds > 1 else ""))
    if twins:
        loads = ", ".join(f"{r['notebook']} {r['load_1min']}" for r in rows
                          if r["load_1min"] is not None)
        notes.append(f"TensorFlow notebook time over its PyTorch twin's, the twins run one "
                     f"after the other (target: at most {MAX_RATIO}; 1-minute load average "
                     f"at each start: {loads or 'unknown'}):\n\n" + ratio_table(twins))
    part = {"status": part_status(rows), "rows": rows, "ratios": twins, "notes": notes}
    if laptop:
        part["data"] = "real-sized stand-ins"
        print(section_table(rows), flush=True)
    return part


def laptop_counts() -> dict[str, int]:
    """Files a real-sized stand-in needs per class (Cats vs Dogs) and per breed (Pets)
    for the laptop profile's cap (images per class and split) to be filled in every
    split, and no more: the smallest split of a class must reach the cap after the
    scan leaves the awkward files out.  Pets has fewer images a breed than the cap:
    as many as the real set."""
    from tlcourse import datasets, standin
    from tlcourse.profiles import PROFILES

    cap = PROFILES["laptop"].images_per_class
    fractions = inspect.signature(datasets.cats_dogs).parameters["fractions"].default

    def fills(readable: int) -> bool:      # datasets.cats_dogs' split, one class
        parts = datasets.stratified_split(np.zeros(readable, dtype=int), fractions)
        return min(len(p) for p in parts) >= cap

    # the split rounds, so the fewest files may be a little under cap / smallest share
    readable = next(n for n in itertools.count(math.floor(cap / min(fractions)) - len(fractions))
                    if fills(n))
    real = standin.REAL_SIZES
    return {"cats_dogs": min(real["cats_dogs"].per_class, readable + standin.AWKWARD_PER_CLASS),
            "oxford_pets": real["oxford_pets"].per_class}


def real_sized_key() -> str:
    """Eight hex digits that change whenever the real-sized stand-ins' figures or counts
    do: a folder named with it is never a stale one."""
    from tlcourse import standin

    return hashlib.sha256(repr((standin.REAL_SIZES, laptop_counts())).encode()).hexdigest()[:8]


def real_sized_writer(name: str):
    """The writer of dataset ``name``'s real-sized stand-in with the laptop run's counts,
    for ``standin.write_into``."""
    from tlcourse import standin

    count = laptop_counts()[name]
    if name == "cats_dogs":
        return functools.partial(standin.write_cats_dogs, per_class=count, real_sized=True)
    return functools.partial(standin.write_oxford_pets, per_breed=count, real_sized=True)


def install_standins(names: list[str]) -> dict:
    """In a laptop run's scratch cache (``TLCOURSE_CACHE``): each dataset of ``names``
    as its real-sized stand-in where the real download goes, written once and scanned
    (as ``tlcourse fetch`` scans a download); {name: files, MB, seconds}."""
    from tlcourse import datasets, standin

    made = {}
    for name in names:
        dest = datasets.dataset_root(name)
        if dest.exists() and not standin.is_standin_folder(dest):
            raise RuntimeError(f"{dest} is not a stand-in ({standin.STANDIN_MARKER} missing): "
                               "refusing to time a laptop run on it")
        start = time.perf_counter()
        for stale in dest.parent.glob(f".tmp-{dest.name}.*"):    # a killed run's half
            shutil.rmtree(stale, ignore_errors=True)
        standin.write_into(dest, real_sized_writer(name))   # no-op when there
        datasets.load(name, "laptop", progress=False)
        files = [f for f in dest.rglob("*") if f.is_file()]
        made[name] = {"files": len(files), "mb": sum(f.stat().st_size for f in files) / 2**20,
                      "seconds": time.perf_counter() - start}
    return made


def heading_kind(heading: str) -> str:
    """The section kind (``KINDS``) a level-2 heading's text starts."""
    text = heading.strip().lower()
    return next((kind for kind, pattern in SECTION_KINDS if re.search(pattern, text)), "study")


def _cell_seconds(cell) -> float:
    """How long a code cell ran, from the times nbclient records (0 when not run)."""
    times = cell.get("metadata", {}).get("execution", {})
    for start, end in (("iopub.status.busy", "iopub.status.idle"),
                       ("iopub.execute_input", "shell.execute_reply")):
        if start in times and end in times:
            return (_dt.datetime.fromisoformat(times[end])
                    - _dt.datetime.fromisoformat(times[start])).total_seconds()
    return 0.0


def sections(notebook: dict) -> list[list]:
    """[heading, kind, seconds] per level-2 section of an executed notebook (as JSON),
    in order; the cells before the first level-2 heading are the "setup" section."""
    out = [["(before the first section)", "setup", 0.0]]
    for cell in notebook.get("cells", []):
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            for line in source.splitlines():
                if line.startswith("## "):      # the title ("# ") is setup, "### " a part
                    out.append([line[3:].strip(), heading_kind(line[3:]), 0.0])
        elif cell.get("cell_type") == "code":
            out[-1][2] += _cell_seconds(cell)
    return out


def seconds_by_kind(sections_: list[list]) -> dict[str, float]:
    """Seconds per section kind, every kind of ``KINDS`` present."""
    totals = dict.fromkeys(KINDS, 0.0)
    for _, kind, seconds in sections_:
        totals[kind] += seconds
    return totals


def _twins_swapped(notebooks: list[Path]) -> list[Path]:
    """The same notebooks, each assignment's twins in the other order (TF first)."""
    return sorted(notebooks, key=lambda nb: (nb.parent.name, framework_of(nb) == "torch"))


def _execute(nb: Path, root: Path, scratch: Path, env: dict, opts, own: dict) -> dict:
    """One run of ``nb`` in a fresh process, from an empty feature cache: its row."""
    harness.scratch_cache(scratch, own=own)  # every notebook starts with no cached features
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
    if dest.is_file():      # written even when a cell failed: the sections it reached
        row["headings"] = sections(json.loads(dest.read_text()))
        row["sections"] = seconds_by_kind(row["headings"])
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
            quickest = min(mine, key=lambda r: r["wall_s"])
            row.update({k: quickest[k] for k in ("headings", "sections") if k in quickest})
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
