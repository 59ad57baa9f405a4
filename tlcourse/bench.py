"""Benchmarks, framework-neutral: timing helpers, tables, and `tlcourse bench models`.

`bench models` measures, per model and framework, CPU forward throughput
(images/s at batch 32, 224x224) through the helper's path (the model
``pretrained`` returns, called by ``probabilities`` on a batch ``to_batch``
already made) and through a bare forward of the same network built without
the helper, and reports the ratio of their times (helper overhead, must be
at most 5%).

Each framework runs in its own subprocess (importing TensorFlow and then
torchvision in one process crashes).  A framework adapter provides::

    tlcourse.<framework>.bench.forward_throughput(name, batch=32) -> dict

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


def throughput(batch: int, seconds: list[float]) -> float:
    """Images per second from the median time of a batch."""
    return batch / statistics.median(seconds)


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
    """Call ``tlcourse.<framework>.bench.forward_throughput`` in a fresh Python."""
    code = ("import json, sys\n"
            f"from tlcourse.{framework}.bench import forward_throughput\n"
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


def main(args) -> int:
    """CLI entry for `tlcourse bench models [--model NAME ...] [--framework F ...]`."""
    rows = bench_models(models=args.model or MODELS, frameworks=args.framework or FRAMEWORKS,
                        batch=args.batch, out=Path(args.out) if args.out else None)
    bad = [r for r in rows if r.get("overhead_ok") == "NO"]
    return 1 if bad else 0


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="tlcourse bench models")
    p.add_argument("what", choices=["models"])
    p.add_argument("--model", action="append", choices=MODELS)
    p.add_argument("--framework", action="append", choices=FRAMEWORKS)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", default=str(DEFAULT_OUT))
    sys.exit(main(p.parse_args()))
