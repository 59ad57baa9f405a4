"""What every benchmark part shares: one measurement in a fresh Python, timing
helpers, scratch caches, and the log line.

``call_in_subprocess("module:function", kwargs)`` runs ``function(**kwargs)``
in a new interpreter and returns its JSON result.  Every part measures a
framework this way, one framework per process (importing TensorFlow and then
torchvision in one process crashes), and so starts from a clean state: no
model, no cached tensor, no thread pool left over from the last measurement.

The one protocol: the parent passes the target, the keyword arguments (JSON)
and the path of a result file on the child's command line; the child writes
``{"result": ...}`` or, when the function raised, ``{"error": {"type",
"message"}}`` there, atomically.  Anything else (a crash, a kill, a timeout)
leaves no file.  Every failure becomes a ``BenchError`` carrying the child's
exit status, the exception's type when there was one, and the tail of its
standard error.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

STDERR_TAIL_LINES = 15


# --------------------------------------------------------------------------
# one measurement in a fresh Python (one framework per process)
# --------------------------------------------------------------------------
class BenchError(RuntimeError):
    """A measurement in a child process failed.

    ``error_type``: the exception's class name when the function raised (e.g.
    ``"AssetError"``), else None; ``stderr_tail``: the child's last lines of
    standard error (also in the message)."""

    def __init__(self, message: str, error_type: str | None = None, stderr_tail: str = ""):
        super().__init__(message + (f"\n--- child's stderr (last lines) ---\n{stderr_tail}"
                                    if stderr_tail else ""))
        self.summary = message
        self.error_type = error_type
        self.stderr_tail = stderr_tail


def _import_target(target: str) -> Callable:
    import importlib

    module, sep, func = target.partition(":")
    if not sep or not module or not func:
        raise ValueError(f"target {target!r} is not 'module:function', e.g. "
                         "'tlcourse.bench.data:measure'")
    return getattr(importlib.import_module(module), func)


def child_main(argv: list[str]) -> int:
    """In the child: ``argv`` = [target, kwargs as JSON, result file]."""
    import traceback

    from tlcourse.cache import atomic_path

    target, kwargs, out = argv[0], json.loads(argv[1]), Path(argv[2])
    try:
        record, status = {"result": _import_target(target)(**kwargs)}, 0
    except Exception as exc:   # reported to the parent; the traceback goes to stderr
        traceback.print_exc()
        record, status = {"error": {"type": type(exc).__name__, "message": str(exc)}}, 1
    text = json.dumps(record, default=_jsonable)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return status


def _jsonable(value):
    if hasattr(value, "item"):          # numpy scalars
        return value.item()
    return str(value)


def _tail(text: str | bytes | None, lines: int = STDERR_TAIL_LINES) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    kept = [ln for ln in (text or "").splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def call_in_subprocess(target: str, kwargs: dict | None = None, env: dict | None = None,
                       timeout: float | None = 1800):
    """``target`` ("module:function") called with ``kwargs`` in a fresh Python
    (this interpreter, environment ``env`` or ours); its JSON result.

    Raises ``BenchError`` when the function raises, the child dies, or it runs
    past ``timeout`` seconds."""
    code = "import sys; from tlcourse.bench.harness import child_main; sys.exit(child_main(sys.argv[1:]))"
    full_env = dict(os.environ if env is None else env)
    full_env.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before the child imports torch
    # tools the measurement starts (jupyter, nbgrader) come from this environment
    full_env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + full_env.get("PATH", "")
    with tempfile.TemporaryDirectory(prefix="tlcourse-bench-") as tmp:
        out = Path(tmp) / "result.json"
        try:
            proc = subprocess.run([sys.executable, "-c", code, target,
                                   json.dumps(kwargs or {}), str(out)],
                                  capture_output=True, text=True, timeout=timeout, env=full_env)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{target} timed out after {timeout:.0f} s",
                             stderr_tail=_tail(exc.stderr)) from None
        record = json.loads(out.read_text()) if out.is_file() else {}
    if "result" in record:
        return record["result"]
    error = record.get("error")
    if error:
        raise BenchError(f"{target} raised {error['type']}: {error['message'][:500]}",
                         error_type=error["type"], stderr_tail=_tail(proc.stderr))
    raise BenchError(f"{target} failed (exit {proc.returncode}) without a result",
                     stderr_tail=_tail(proc.stderr) or "(no error output)")


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


def rounds_for(seconds_per_round: float, budget_s: float = 20.0, lo: int = 3, hi: int = 15) -> int:
    """How many rounds fit a time budget (at least ``lo`` for a median)."""
    return max(lo, min(hi, int(budget_s / max(seconds_per_round, 1e-6))))


def paired_time_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a_i / b_i: each pair was timed back to back, so a
    slow stretch of a shared machine hits both sides of a ratio, not one median."""
    return statistics.median(x / y for x, y in zip(a, b))


def throughput(batch: int, seconds: list[float]) -> float:
    """Images per second from the median time of a batch."""
    return batch / statistics.median(seconds)


# --------------------------------------------------------------------------
# where a measurement's files go
# --------------------------------------------------------------------------
def scratch_cache(dest: Path, share: tuple[str, ...] | None = None,
                  fresh: tuple[str, ...] = ("features",), own: dict | None = None) -> Path:
    """A cache folder for a measurement: ``dest`` with links to the folders of
    the real cache (weights, photos, datasets: ``share``, default all but
    ``fresh`` and ``bench``), and ``fresh`` folders emptied.  Point
    ``TLCOURSE_CACHE`` at it to measure a first run (e.g. with no cached
    features) without touching the user's cache.  ``own`` ({name: folder}) links
    those names to other folders instead (made when missing), e.g. ``datasets`` to
    stand-ins, so the measurement never sees the user's folder of that name."""
    from tlcourse import cache

    main = cache.cache_dir().resolve()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    own = own or {}
    for name, target in own.items():
        link, target = dest / name, Path(target)
        target.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.resolve() != target.resolve():
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(target.resolve(), target_is_directory=True)
    names = share if share is not None else \
        tuple(p.name for p in main.iterdir() if p.is_dir()) if main.is_dir() else ()
    for name in names:
        if name in fresh or name in own or name == "bench" or not (main / name).is_dir():
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


def log(msg: str) -> None:
    """A progress line, timestamped, at once (a benchmark run takes minutes)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
