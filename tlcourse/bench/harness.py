"""Benchmarks, framework-neutral: timing helpers, tables, and `tlcourse bench models`.

`bench models` measures, per model and framework, CPU forward throughput
(images/s at batch 32, 224x224) through the helper's path (the model
``pretrained`` returns, called by ``probabilities`` on a batch ``to_batch``
already made) and through a bare forward of the same network built without
the helper, and reports the ratio of their times (helper overhead, must be
at most 5%).

Each framework runs in its own subprocess (importing TensorFlow and then
torchvision in one process crashes).  A framework adapter provides::

    tlcourse.bench.models_<framework>.forward_throughput(name, batch=32) -> dict

returning at least ``images_per_s`` (helper path) and ``bare_images_per_s``;
optionally ``params`` (total parameters) and ``note``.  It raises the
registry's ``AssetError`` when weights are missing.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from tlcourse.preprocess import MODELS

FRAMEWORKS = ("torch", "tf")
MAX_OVERHEAD = 0.05      # helper path may be at most 5% slower than a bare forward
RESULT_TAG = "@@TLCOURSE_BENCH@@"
DEFAULT_OUT = Path("benchmarks") / "models.md"


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------
def time_interleaved(fns: dict[str, Callable[[], object]], rounds: int = 5,
                     warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, calls alternated round by round.

    Interleaving (a b, b a, a b, ...) rather than (a a a ..., b b b ...)
    spreads slow drifts of a shared machine (other jobs, CPU clock) and any
    advantage of going first over both, so their ratio is fair."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    order = list(fns.items())
    for i in range(rounds):
        for key, fn in (order if i % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return times


def rounds_for(seconds_per_call: float, budget_s: float = 20.0, lo: int = 3, hi: int = 15) -> int:
    """How many rounds fit a time budget (at least ``lo`` for a median)."""
    return max(lo, min(hi, int(budget_s / max(seconds_per_call, 1e-6))))


def paired_time_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a_i / b_i: each pair was timed back to back, so a
    slow stretch of a shared machine hits both sides of a ratio, not one median."""
    return statistics.median(x / y for x, y in zip(a, b))


def throughput(batch: int, seconds: list[float]) -> float:
    """Images per second from the median time of a batch."""
    return batch / statistics.median(seconds)


# --------------------------------------------------------------------------
# one measurement in a fresh Python (one framework per process)
# --------------------------------------------------------------------------
CHILD_TAG = "@@TLCOURSE_BENCH_RESULT@@"


class BenchError(RuntimeError):
    """A measurement in a child process failed; the message is its last error line."""


def child_main(argv: list[str]) -> None:
    """In the child: call ``module.func(**kwargs)`` and print its JSON result, tagged."""
    import importlib

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before torch is imported
    module, func, kwargs = argv[0], argv[1], json.loads(argv[2]) if len(argv) > 2 else {}
    result = getattr(importlib.import_module(module), func)(**kwargs)
    print(CHILD_TAG + json.dumps(result, default=str), flush=True)


def call_in_subprocess(module: str, func: str, kwargs: dict | None = None,
                       env: dict | None = None, timeout: float = 1800) -> dict:
    """``module.func(**kwargs)`` run in a fresh Python; its (JSON) result.

    Raises ``BenchError`` with the child's last error line when it fails or
    runs past ``timeout`` seconds."""
    code = "import sys; from tlcourse.bench.harness import child_main; child_main(sys.argv[1:])"
    full_env = dict(os.environ if env is None else env)
    full_env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    full_env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + full_env.get("PATH", "")
    try:
        proc = subprocess.run([sys.executable, "-c", code, module, func,
                               json.dumps(kwargs or {})], capture_output=True, text=True,
                              timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{module}.{func} timed out after {timeout:.0f} s") from None
    for line in proc.stdout.splitlines():
        if line.startswith(CHILD_TAG):
            return json.loads(line[len(CHILD_TAG):])
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    raise BenchError(f"{module}.{func} failed (exit {proc.returncode}): "
                     + (lines[-1][:300] if lines else "(no error output)"))


def scratch_cache(dest: Path, share: tuple[str, ...] | None = None,
                  fresh: tuple[str, ...] = ("features",)) -> Path:
    """A cache folder for a measurement: ``dest`` with links to the folders of
    the real cache (weights, photos, datasets: ``share``, default all but
    ``fresh`` and ``bench``), and ``fresh`` folders emptied.  Point
    ``TLCOURSE_CACHE`` at it to measure a first run (e.g. with no cached
    features) without touching the user's cache."""
    import shutil

    from tlcourse import cache

    main = cache.cache_dir().resolve()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    names = share if share is not None else \
        tuple(p.name for p in main.iterdir() if p.is_dir()) if main.is_dir() else ()
    for name in names:
        if name in fresh or name == "bench" or not (main / name).is_dir():
            continue
        link = dest / name
        if link.is_symlink() or link.exists():
            continue
        link.symlink_to(main / name, target_is_directory=True)
    for name in fresh:
        shutil.rmtree(dest / name, ignore_errors=True)
    return dest


def framework_homes_env(env: dict | None = None) -> dict:
    """``env`` with TORCH_HOME and KERAS_HOME fixed to the real cache's, so a
    scratch TLCOURSE_CACHE still finds the weights."""
    from tlcourse import cache

    env = dict(os.environ if env is None else env)
    env["TORCH_HOME"] = str(cache.torch_home())
    env["KERAS_HOME"] = str(cache.keras_home())
    return env


# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------
def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """``columns`` = [(key, header), ...]; missing values print as an empty cell."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k)) for k, _ in columns) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 10 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --------------------------------------------------------------------------
# bench models
# --------------------------------------------------------------------------
ASSET_SUFFIX = {"torch": "_torch", "tf": "_keras"}


def weights_status(name: str, framework: str) -> tuple[str, bool]:
    """("offline"|"online"|"?", runnable now): run a model when its weights are
    cached or can be had offline; never start a big download for a benchmark."""
    from tlcourse import assets

    asset = assets.REGISTRY.get(name + ASSET_SUFFIX[framework])
    if asset is None:   # the adapter knows best (e.g. no Keras version): let it say
        return "?", True
    kind = "offline" if asset.offline else "online"
    return kind, asset.offline or assets.is_cached(asset)


def run_in_subprocess(framework: str, name: str, batch: int, timeout: float = 900) -> dict:
    """Call ``tlcourse.bench.models_<framework>.forward_throughput`` in a fresh Python."""
    code = ("import json, sys\n"
            f"from tlcourse.bench.models_{framework} import forward_throughput\n"
            "r = forward_throughput(sys.argv[1], batch=int(sys.argv[2]))\n"
            f"print({RESULT_TAG!r} + json.dumps(r))\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, name, str(batch)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG):])
            result.setdefault("status", "ok")
            return result
    err = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    if "AssetError" in proc.stderr:
        return {"status": "not cached"}
    return {"status": f"failed: {err[:120]}"}


def bench_models(models=MODELS, frameworks=FRAMEWORKS, batch: int = 32,
                 out: Path | None = DEFAULT_OUT, print_fn=print) -> list[dict]:
    """Measure every (model, framework); print a table and write it to ``out``."""
    rows = []
    load_before = _load()
    for framework in frameworks:
        for name in models:
            kind, runnable = weights_status(name, framework)
            row = {"model": name, "framework": framework, "weights": kind}
            if not runnable:
                row["status"] = "not cached"
            else:
                print_fn(f"measuring {name} ({framework}) ...")
                row.update(run_in_subprocess(framework, name, batch))
            _add_ratio(row)
            rows.append(row)
            if out is not None:   # raw figures as they come, so nothing measured is lost
                _save_rows(Path(out).with_suffix(".json"), rows)
    if out is not None:   # a partial run (one model or framework) keeps the other rows
        rows = _save_rows(Path(out).with_suffix(".json"), rows)
    table = models_table(rows, batch, load=(load_before, _load()))
    print_fn(table)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n")
    return rows


def _save_rows(path: Path, rows: list[dict]) -> list[dict]:
    """Merge ``rows`` into the JSON at ``path`` (new rows replace old ones for
    the same model and framework), in MODELS x FRAMEWORKS order; return all rows."""
    old = json.loads(path.read_text()) if path.is_file() else []
    merged = {(r["model"], r["framework"]): r for r in old + rows}
    order = {(m, f): i for i, (f, m) in enumerate((f, m) for f in FRAMEWORKS for m in MODELS)}
    merged_rows = sorted(merged.values(), key=lambda r: order.get((r["model"], r["framework"]), 99))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged_rows, indent=1) + "\n")
    return merged_rows


def _add_ratio(row: dict) -> None:
    if row.get("time_ratio") is not None:    # paired per round by the adapter
        row["overhead_ok"] = "yes" if row["time_ratio"] <= 1 + MAX_OVERHEAD else "NO"
        return
    helper, bare = row.get("images_per_s"), row.get("bare_images_per_s")
    if helper and bare:
        row["time_ratio"] = bare / helper     # helper time / bare time
        row["overhead_ok"] = "yes" if row["time_ratio"] <= 1 + MAX_OVERHEAD else "NO"


COLUMNS = [("model", "model"), ("framework", "framework"), ("weights", "weights"),
           ("params", "parameters"), ("images_per_s", "images/s (helper)"),
           ("bare_images_per_s", "images/s (bare)"), ("time_ratio", "time helper/bare"),
           ("overhead_ok", "≤5% overhead"), ("threads", "threads"), ("status", "status")]


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):   # not on every platform
        return None


def models_table(rows: list[dict], batch: int = 32, load=(None, None)) -> str:
    busy = ""
    if load[0] is not None and max(load) > 0.5 * (os.cpu_count() or 1):
        busy = (f"  **The machine was busy** (1-minute load average {load[0]:.1f} before, "
                f"{load[1]:.1f} after, on {os.cpu_count()} cores): absolute figures are low "
                f"and noisy; the helper/bare ratio, measured interleaved, is the robust one.")
    head = (f"# Model forward throughput, CPU\n\n"
            f"Made by `tlcourse bench models` (batch {batch}, 224x224, float32, inference "
            f"only) on {platform.machine()} with {os.cpu_count()} CPU cores"
            f", {time.strftime('%Y-%m-%d')}.  \"helper\" = the model from `pretrained()` called "
            f"through `probabilities()` on a batch `to_batch()` already made; \"bare\" = the "
            f"same network built without the helper (plain torchvision / keras call).  "
            f"Median of interleaved rounds after a warm-up.{busy}\n\n")
    notes = [f"- {r['model']} ({r['framework']}): {r['note']}" for r in rows if r.get("note")]
    return head + markdown_table(rows, COLUMNS) + ("\n\n" + "\n".join(notes) if notes else "")


def main(argv=None) -> int:
    """``python -m tlcourse.bench.harness`` = ``tlcourse bench models`` (into benchmarks/RESULTS.*)."""
    from tlcourse.bench import suite as bench_suite

    return bench_suite.main(["models", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
