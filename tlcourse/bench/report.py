"""The benchmark report: ``benchmarks/RESULTS.json`` (machine-readable) and
``benchmarks/RESULTS.md`` (for people), both written by ``tlcourse bench``.

The JSON is the record; the Markdown is rendered from it, so the two always
agree.  Layout of the JSON::

    {"schema": 1, "generated": ISO time,
     "runs": {run_id: {"command", "started", "finished", "machine": {...},
                       "load_start": [1, 5, 15 min], "load_end": [...]}},
     "parts": {part: {"status": "ok" | "partial" | "failed", "run": run_id,
                      "seconds", "error", "rows": [...], "notes": [...], ...}}}

Every part names the run that measured it.  ``tlcourse bench`` (everything)
writes one run; ``tlcourse bench models`` replaces only the models part and
keeps the others, and the report then says which parts come from which run.
Both files are written atomically (temporary file, then rename).
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
from pathlib import Path

from tlcourse.cache import atomic_path

SCHEMA = 1
PARTS = ("notebooks", "models", "data", "adversarial", "grading", "scaling")
TITLES = {
    "notebooks": "Solution notebooks, smoke profile: wall time and peak memory",
    "models": "Model forward throughput and helper overhead",
    "data": "Input pipeline throughput",
    "adversarial": "Adversarial-cat targets",
    "grading": "Grading: nbgrader autograde time per submission",
    "scaling": "Cost as the data grows: transfer-learning pipeline at three sizes",
}
FRAMEWORK_NAMES = {"torch": "PyTorch", "tf": "TensorFlow"}


def part_key(part: str, profile: str) -> str:
    """Where a part's results are kept: the notebooks at another profile than smoke
    (``notebooks_laptop``) beside the smoke ones, not over them."""
    return f"notebooks_{profile}" if part == "notebooks" and profile != "smoke" else part


def _profile_notebooks(results: dict) -> dict[str, dict]:
    """{profile: part} of the notebooks measured at profiles other than smoke."""
    return {k.removeprefix("notebooks_"): p for k, p in results.get("parts", {}).items()
            if k.startswith("notebooks_")}


def _profile_title(profile: str, part: dict) -> str:
    data = f" on {part['data']}" if part.get("data") else ""
    return (f"Solution notebooks, {profile} profile{data}: wall time, peak memory and "
            "seconds per section")
MIN_CACHE_SPEEDUP = 10.0
PACKAGES = ("torch", "torchvision", "tensorflow", "tensorflow-cpu", "keras", "numpy", "pillow",
            "nbgrader", "nbclient", "ipykernel")


# --------------------------------------------------------------------------
# the machine
# --------------------------------------------------------------------------
def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[str]:
    """GPU names from nvidia-smi (no framework import); empty when there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def machine_info() -> dict:
    """What the figures were measured on: CPU, cores, memory, GPUs, OS, versions."""
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "arch": platform.machine(),
            "os": platform.platform(terse=True), "gpus": gpus(), "versions": versions()}
    try:
        import psutil
        info["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
        info["physical_cores"] = psutil.cpu_count(logical=False)
    except Exception:   # psutil is pinned, but the report must not depend on it
        pass
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    return info


def now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def new_run(command: str) -> tuple[str, dict]:
    """(run id, run record) at the start of a benchmark run."""
    started = now()
    return started, {"command": command, "started": started, "machine": machine_info(),
                     "load_start": load_average()}


def finish_run(run: dict) -> dict:
    run["finished"] = now()
    run["load_end"] = load_average()
    return run


# --------------------------------------------------------------------------
# reading and writing
# --------------------------------------------------------------------------
def empty_results() -> dict:
    return {"schema": SCHEMA, "generated": None, "runs": {}, "parts": {}}


def read_results(path: Path) -> dict:
    """The JSON at ``path``, or an empty record when it is absent or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return empty_results()
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return empty_results()
    data.setdefault("runs", {})
    data.setdefault("parts", {})
    return data


def merge(old: dict, run_id: str, run: dict, parts: dict) -> dict:
    """``old`` with ``parts`` (measured by ``run``) replacing the same parts;
    runs no part refers to any more are dropped."""
    out = {"schema": SCHEMA, "generated": now(), "runs": dict(old.get("runs", {})),
           "parts": dict(old.get("parts", {}))}
    out["runs"][run_id] = run
    for name, part in parts.items():
        out["parts"][name] = dict(part, run=run_id)
    used = {p.get("run") for p in out["parts"].values()}
    out["runs"] = {k: v for k, v in out["runs"].items() if k in used}
    out["parts"] = {k: out["parts"][k] for k in PARTS if k in out["parts"]} | \
        {k: v for k, v in out["parts"].items() if k not in PARTS}
    return out


def write_report(results: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``RESULTS.json`` and ``RESULTS.md`` into ``out_dir``, each atomically."""
    out_dir = Path(out_dir)
    json_path, md_path = out_dir / "RESULTS.json", out_dir / "RESULTS.md"
    text = json.dumps(results, indent=1, default=_json_default) + "\n"
    md = render(results)
    with atomic_path(json_path) as tmp:
        tmp.write_text(text)
    with atomic_path(md_path) as tmp:
        tmp.write_text(md)
    return json_path, md_path


def _json_default(value):
    if hasattr(value, "item"):          # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


# --------------------------------------------------------------------------
# formatting helpers
# --------------------------------------------------------------------------
def num(value, digits: int | None = None) -> str:
    """A figure for a table cell: '–' when missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if digits is not None:
            return f"{value:,.{digits}f}"
        a = abs(value)
        return f"{value:,.0f}" if a >= 100 else f"{value:.1f}" if a >= 10 else \
            f"{value:.2f}" if a >= 0.1 else f"{value:.3f}"
    return str(value)


def table(rows: list[list], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ")
                                       for c in r) + " |")
    return "\n".join(lines)


def pct(x) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def fw(name) -> str:
    return FRAMEWORK_NAMES.get(name, str(name))


def _status_line(part: dict | None) -> str:
    if part is None:
        return "_Not measured: this part has not been run yet (`tlcourse bench PART`)._"
    status = part.get("status", "?")
    took = f" in {part['seconds']:.0f} s" if part.get("seconds") is not None else ""
    if status == "ok":
        line = f"Status: ok (measured{took})."
    elif status == "partial":
        line = f"Status: **PARTLY FAILED** (measured{took}): see the failed rows."
    else:
        line = f"Status: **FAILED**{took}."
    if part.get("load_after"):
        line += f" Load average when it ended: {_fmt_load(part['load_after'])}."
    if part.get("error"):
        line += f" Error: `{str(part['error'])[:400]}`"
    return line


def part_status(rows, ok=lambda r: r.get("status", "ok") == "ok") -> str:
    """A part's status from its rows: "ok" when every row is, "partial" when
    some are, else "failed" (also when there is no row)."""
    good = [r for r in rows if ok(r)]
    return "ok" if rows and len(good) == len(rows) else "partial" if good else "failed"


def _busy(load, cores) -> bool:
    return bool(load) and bool(cores) and load[0] > 0.5 * cores


# --------------------------------------------------------------------------
# the sections
# --------------------------------------------------------------------------
def _notebooks(part: dict) -> str:
    rows = [[r.get("notebook", "?"), fw(r.get("framework")), r.get("status", "?"),
             num(r.get("wall_s"), 0), num(r.get("peak_mb"), 0), r.get("error") or ""]
            for r in part.get("rows", [])]
    total = sum(r.get("wall_s") or 0 for r in part.get("rows", []))
    return (table(rows, ["notebook", "framework", "status", "wall s", "peak RSS MB", "error"])
            + f"\n\nTotal wall time: {total:.0f} s.")


def section_table(rows: list[dict]) -> str:
    """Seconds per section kind (in the order of the rows' ``sections``), one column per
    notebook (twins side by side), with the wall time (kernel start included) and peak
    memory below; "" when no row has sections."""
    rows = [r for r in rows if r.get("sections")]
    if not rows:
        return ""
    header = ["section"] + [f"{r['assignment']} {fw(r['framework'])}" for r in rows]
    body = [[kind] + [num(r["sections"].get(kind), 0) for r in rows]
            for kind in rows[0]["sections"]]
    body.append(["wall (kernel start included)"] + [num(r.get("wall_s"), 0) for r in rows])
    body.append(["peak RSS MB"] + [num(r.get("peak_mb"), 0) for r in rows])
    return table(body, header)


def _notebooks_by_section(part: dict) -> str:
    by_section = section_table(part.get("rows", []))
    return _notebooks(part) + (f"\n\nSeconds per section (cells grouped by the notebooks' "
                               f"`##` headings):\n\n{by_section}" if by_section else "")


def _models(part: dict) -> str:
    rows = [[r.get("model"), fw(r.get("framework")), r.get("weights", ""), num(r.get("params")),
             num(r.get("images_per_s")), num(r.get("bare_images_per_s")),
             num(r.get("time_ratio"), 3), num(r.get("aa_ratio"), 3), r.get("overhead_ok", ""),
             r.get("status", "")]
            for r in part.get("rows", [])]
    notes = [f"- {r['model']} ({fw(r['framework'])}): {r['note']}"
             for r in part.get("rows", []) if r.get("note")]
    notes.append("- A/A control: the bare network against a second copy of itself, timed the "
                 "same way. It would be 1.000 on a quiet machine; how far it is from 1 is the "
                 "noise any helper/bare ratio carries here.")
    return (table(rows, ["model", "framework", "weights", "parameters", "images/s (helper)",
                         "images/s (bare)", "time helper/bare", "A/A control", "≤5% overhead",
                         "status"])
            + "\n\n" + "\n".join(notes))


def _data(part: dict) -> str:
    rows = [[fw(r.get("framework")), r.get("mode", ""), r.get("workers", ""),
             num(r.get("images_per_s")) if "images_per_s" in r else f"failed: {r.get('error')}",
             r.get("data", "")] for r in part.get("rows", [])]
    return table(rows, ["framework", "mode", "workers", "images/s", "data"])


def _adversarial(part: dict) -> str:
    out = []
    ideal, attack, transfer = [], [], []
    for r in part.get("rows", []):
        name = fw(r.get("framework"))
        if r.get("status", "ok") != "ok":
            ideal.append([name, f"failed: {r.get('error', '')}", "", "", "", ""])
            continue
        c = r.get("ideal_cat", {})
        ideal.append([name, c.get("image", ""), num(c.get("steps")), num(c.get("p_cat"), 3),
                      num(c.get("steps_to_target")), num(c.get("p_cat_second"), 3),
                      num(c.get("seconds"), 1)])
        for a in r.get("attack", []):
            attack.append([name, a.get("eps"), a.get("photos"), pct(a.get("success_rate")),
                           num(a.get("mean_steps"), 1), num(a.get("max_steps")),
                           num(a.get("mean_target_prob"), 3)])
        t = r.get("transfer", {})
        transfer.append([name, f"{t.get('fooled', '–')} of {t.get('total', '–')}",
                         pct(t.get("rate")), r.get("smallest_eps") or "none",
                         num(r.get("attack_seconds"), 1)])
    out.append("Ideal cat (p(cat) = total probability of the five domestic-cat classes; "
               "target ≥ 0.9):\n")
    out.append(table(ideal, ["framework", "image", "steps", "p(cat) MobileNetV2",
                             "steps to p ≥ 0.9", "p(cat) EfficientNet-Lite0", "s"]))
    out.append("\nTargeted attack, dog photos → tabby, steps of 1/255 (target: 100% at "
               "ε = 4/255):\n")
    out.append(table(attack, ["framework", "ε", "photos", "success", "steps mean",
                              "steps max", "p(tabby)"]))
    out.append("\nTransfer of the adversarial images (made on MobileNetV2) to "
               "EfficientNet-Lite0:\n")
    out.append(table(transfer, ["framework", "classified tabby", "transfer rate",
                                "smallest ε that works on every photo", "attack s"]))
    return "\n".join(out)


def _grading(part: dict) -> str:
    rows = [[r.get("student"), r.get("status"), f"{num(r.get('score'))} / {num(r.get('max_score'))}",
             num(r.get("seconds"), 1)] for r in part.get("rows", [])]
    s = part.get("summary", {})
    head = (f"`{s.get('assignment', '?')}` ({s.get('notebook', '?')}), "
            f"{s.get('copies', '?')} copies of the solution submission, autograded one "
            f"student at a time as `tlcourse grade` does (sandbox {s.get('sandbox', 'off')}); "
            f"feature cache "
            f"{s.get('feature_cache', '?')}.\n\n")
    foot = (f"\n\n**{num(s.get('seconds_per_submission'), 1)} s per submission** (mean; "
            f"first {num(s.get('first_s'), 1)} s, later ones {num(s.get('later_mean_s'), 1)} s); "
            f"gradebook set-up {num(s.get('setup_s'), 1)} s.")
    if s.get("sandbox_ratio") is not None:
        foot += (f" The sandbox's cost, one submission graded back to back: "
                 f"{num(s.get('sandbox_without_s'), 1)} s without, "
                 f"{num(s.get('sandbox_with_s'), 1)} s with, **ratio "
                 f"{num(s.get('sandbox_ratio'), 2)}**.")
    return head + table(rows, ["student", "status", "score", "s"]) + foot


def _scaling(part: dict) -> str:
    s = part.get("summary", {})
    rows = []
    for r in part.get("rows", []):
        if r.get("status", "ok") != "ok":
            rows.append([fw(r.get("framework")), num(r.get("images")), "failed: "
                         + str(r.get("error", ""))[:120], "", "", "", "", "", "", "", "", ""])
            continue
        flag = "" if (r.get("speedup") or 0) >= MIN_CACHE_SPEEDUP else " **< 10×**"
        rows.append([fw(r["framework"]), num(r.get("images")), num(r.get("model_s"), 1),
                     num(r.get("load_s"), 1),
                     num(r.get("features_s"), 1), num(r.get("head_s"), 1),
                     num(r.get("first_s"), 1), num(r.get("second_s"), 2),
                     f"{num(r.get('speedup'), 1)}×{flag}",
                     f"{num(r.get('features_speedup'), 0)}×", num(r.get("peak_mb"), 0),
                     num(r.get("val_accuracy"), 3)])
    text = (f"Stand-in Cats vs Dogs (synthetic pictures, {s.get('source_px', '160–256')} px "
            f"JPEGs, real on-disk layout) of N images in all, split 70/15/15; "
            f"`{s.get('model', 'mobilenet_v2')}` (offline ImageNet weights) as a frozen feature "
            f"extractor at **{s.get('image_size', '?')}×{s.get('image_size', '?')}** (small "
            f"images so that 8,000 fit a CPU run), features of train + val, then a "
            f"dropout + linear head trained {s.get('epochs', '?')} epochs on them "
            f"(the steps of `tlcourse.train.feature_benchmark`). Each (framework, N) runs "
            f"in a fresh process with an empty feature cache; the pass is then repeated in the same "
            f"process, now reading the cached features. \"first\" = load splits + features + "
            f"head; \"second\" = the same pass again (the splits' scan memo and the cached "
            f"features are found); the model is loaded once before (\"model s\", not in "
            f"either pass); peak = the process's peak RSS. N counts every file, including "
            f"the few unreadable ones the stand-in carries on purpose (left out by the scan)."
            f"\n\n")
    text += table(rows, ["framework", "images N", "model s", "load splits s", "features s", "head s",
                         "first pass s", "second pass s", "speed-up (pass)",
                         "speed-up (features step)", "peak RSS MB", "val acc"])
    growth = s.get("growth", {})
    if growth:
        text += "\n\nGrowth from the smallest to the largest N (time ∝ N^k):\n\n"
        text += table([[fw(f), f"{num(g.get('n_ratio'), 0)}×", f"{num(g.get('time_ratio'), 1)}×",
                        num(g.get("exponent"), 2), f"{num(g.get('ms_per_image_small'), 1)} → "
                        f"{num(g.get('ms_per_image_large'), 1)}",
                        f"{num(g.get('peak_mb_small'), 0)} → {num(g.get('peak_mb_large'), 0)}"]
                       for f, g in growth.items()],
                      ["framework", "images", "first-pass time", "k", "ms per image",
                       "peak RSS MB"])
    low = [r for r in part.get("rows", []) if r.get("status", "ok") == "ok"
           and (r.get("speedup") or 0) < MIN_CACHE_SPEEDUP]
    text += "\n\n" + (f"**Feature cache below target**: {len(low)} of the runs were less than "
                      f"{MIN_CACHE_SPEEDUP:.0f}× faster the second time (flagged above). "
                      f"What remains of a second pass is mostly the head's "
                      f"{s.get('epochs', '?')} epochs on the features, which the cache does not "
                      f"shorten; the feature step itself (\"features step\") is read from the "
                      f"cache that many times faster than it was computed."
                      if low else f"Feature cache: every second pass was at least "
                                  f"{MIN_CACHE_SPEEDUP:.0f}× faster than the first.")
    return text


SECTIONS = {"notebooks": _notebooks, "models": _models, "data": _data,
            "adversarial": _adversarial, "grading": _grading, "scaling": _scaling}


# --------------------------------------------------------------------------
# the summary (also what README shows)
# --------------------------------------------------------------------------
def _ok_rows(parts, name):
    part = parts.get(name)
    if not part:
        return None
    return [r for r in part.get("rows", []) if r.get("status", "ok") in ("ok",)]


def _cell_failed(parts, name) -> str:
    part = parts.get(name)
    return "not run" if not part else "**failed**"


def summary_rows(results: dict) -> list[list[str]]:
    """[measurement, PyTorch, TensorFlow] rows of the headline figures."""
    parts = results.get("parts", {})
    rows = []

    def nbcell(rs):
        if not rs:
            return "–"
        bad = [r for r in rs if r.get("status") != "ok"]
        wall = sum(r.get("wall_s") or 0 for r in rs)
        peak = max((r.get("peak_mb") or 0) for r in rs)
        return (f"{wall:.0f} s, peak {peak:.0f} MB"
                + (f" (**{len(bad)} failed**)" if bad else ""))

    nb = parts.get("notebooks")
    if nb:
        by = {f: [r for r in nb.get("rows", []) if r.get("framework") == f] for f in ("torch", "tf")}
        n = {f: len(v) for f, v in by.items()}
        rows.append([f"smoke notebooks ({n['torch']} + {n['tf']}): total wall, highest peak RSS",
                     nbcell(by["torch"]), nbcell(by["tf"])])
        if nb.get("ratios"):
            def ratio(r):
                text = f"{r['assignment']} {r['wall_ratio']:.2f} ({r['cpu_ratio']:.2f})"
                return f"**{text}**" if r["wall_ratio"] > 1.3 else text
            rows.append(["smoke notebooks, same run: TF time / PyTorch twin's, wall (CPU), goal ≤ 1.3",
                         "1 (reference)", ", ".join(ratio(r) for r in nb["ratios"])])
    else:
        rows.append(["smoke notebooks: total wall, highest peak RSS", "not run", "not run"])
    for profile, part in _profile_notebooks(results).items():
        by = {f: [r for r in part.get("rows", []) if r.get("framework") == f]
              for f in ("torch", "tf")}
        data = f" on {part['data']}" if part.get("data") else ""
        rows.append([f"{profile} notebooks ({len(by['torch'])} + {len(by['tf'])}){data}: "
                     "total wall, highest peak RSS", nbcell(by["torch"]), nbcell(by["tf"])])

    models = _ok_rows(parts, "models")
    if models is not None:
        def mcell(f, key):
            if not any(r.get("framework") == f for r in parts["models"].get("rows", [])):
                return "–"
            r = next((r for r in models if r.get("framework") == f
                      and r.get("model") == "mobilenet_v2"), None)
            return num(r.get(key), 3 if key == "time_ratio" else None) if r else "**failed**"
        rows.append(["MobileNetV2 forward, images/s (CPU, batch 32, 224 px)",
                     mcell("torch", "images_per_s"), mcell("tf", "images_per_s")])
        ratios = {f: [r["time_ratio"] for r in models if r.get("framework") == f
                      and r.get("time_ratio")] for f in ("torch", "tf")}
        rows.append(["helper overhead: highest time helper/bare (≤ 1.05)",
                     *(num(max(v), 3) if v else "–" for v in ratios.values())])
    else:
        rows.append(["model forward throughput", "not run", "not run"])

    data = parts.get("data")
    if data:
        def dcell(f):
            if not any(r.get("framework") == f for r in data.get("rows", [])):
                return "–"
            rs = [r for r in data.get("rows", []) if r.get("framework") == f
                  and "images_per_s" in r and str(r.get("mode", "")).startswith("train")]
            if not rs:
                return "**failed**"
            best = max(rs, key=lambda r: r["images_per_s"])
            return f"{best['images_per_s']:.0f} ({best['workers']} workers)"
        rows.append(["input pipeline, train (augment), images/s", dcell("torch"), dcell("tf")])
    else:
        rows.append(["input pipeline", "not run", "not run"])

    adv = parts.get("adversarial")
    if adv:
        by = {r.get("framework"): r for r in adv.get("rows", [])}

        def acell(f, what):
            r = by.get(f)
            if not r:
                return "–"
            if r.get("status", "ok") != "ok":
                return "**failed**"
            if what == "ideal":
                c = r.get("ideal_cat", {})
                return f"p = {num(c.get('p_cat'), 3)}, ≥ 0.9 after {num(c.get('steps_to_target'))} steps"
            if what == "transferable":   # goal: median >= 0.85 on the second network, <= 20 s an image
                def mark(text, met):
                    return text if met else f"**{text}**"
                return "; ".join(
                    f"{c['class']} " + mark(f"{num(c['median_second'], 3)}", c["median_met"])
                    + f" ({num(c['min_second'], 2)}–{num(c['max_second'], 2)}), "
                    + mark(f"{num(c['max_seconds'], 1)} s", c["time_met"])
                    for c in r.get("ideal_transferable", []))
            if what == "attack":
                return ", ".join(f"{a['eps']}: {pct(a.get('success_rate'))}"
                                 for a in r.get("attack", []))
            t = r.get("transfer", {})
            return f"{pct(t.get('rate'))} ({t.get('fooled')} of {t.get('total')})"
        rows.append(["ideal cat on MobileNetV2", acell("torch", "ideal"), acell("tf", "ideal")])
        rows.append(["ideal images (Fourier, grown on MobileNetV2) on EfficientNet-Lite0: median "
                     "(min–max) over 3 seeds, slowest image; goal ≥ 0.85, ≤ 20 s",
                     acell("torch", "transferable"), acell("tf", "transferable")])
        rows.append(["targeted attack dog → tabby, success per ε", acell("torch", "attack"),
                     acell("tf", "attack")])
        rows.append(["attack transfer to EfficientNet-Lite0", acell("torch", "transfer"),
                     acell("tf", "transfer")])
    else:
        rows.append(["adversarial targets", "not run", "not run"])

    gr = parts.get("grading")
    if gr and gr.get("status") in ("ok", "partial"):
        s = gr.get("summary", {})
        cell = f"{num(s.get('seconds_per_submission'), 1)} s/submission ({s.get('copies')} copies)"
        rows.append([f"nbgrader autograde, {s.get('assignment')}",
                     cell if s.get("framework") == "torch" else "–",
                     cell if s.get("framework") == "tf" else "–"])
    else:
        rows.append(["nbgrader autograde, s/submission", _cell_failed(parts, "grading"), "–"])

    sc = parts.get("scaling")
    if sc:
        def scell(f):
            rs = [r for r in sc.get("rows", []) if r.get("framework") == f]
            if not rs:
                return "–"
            if any(r.get("status", "ok") != "ok" for r in rs):
                return "**failed**"
            times = " / ".join(f"{r['first_s']:.0f}" for r in rs)
            sizes = " / ".join(f"{r['images']:,}" for r in rs)
            return f"{times} s for {sizes} images; peak {rs[-1]['peak_mb']:.0f} MB"
        rows.append(["transfer-learning pipeline (features + head)", scell("torch"), scell("tf")])

        def ccell(f):
            rs = [r for r in sc.get("rows", []) if r.get("framework") == f
                  and r.get("status", "ok") == "ok"]
            if not rs:
                return "–"
            lo, hi = min(r["speedup"] for r in rs), max(r["speedup"] for r in rs)
            feats = min(r.get("features_speedup") or 0 for r in rs)
            return (f"{lo:.0f}–{hi:.0f}× faster" + ("" if lo >= MIN_CACHE_SPEEDUP else
                                                     " (**< 10× at some sizes**)")
                    + f"; feature step {feats:.0f}× or more")
        rows.append(["second pass with cached features (whole pass)", ccell("torch"),
                     ccell("tf")])
    else:
        rows.append(["transfer-learning pipeline at 3 sizes", "not run", "not run"])
    return rows


def summary_table(results: dict) -> str:
    return table(summary_rows(results), ["measurement", "PyTorch", "TensorFlow"])


# --------------------------------------------------------------------------
# the whole page
# --------------------------------------------------------------------------
def _loads_seen(results: dict, run_id: str | None = None) -> list[list[float]]:
    """Load averages recorded at the start and end of the run(s) and after each part."""
    runs = results.get("runs", {})
    chosen = [run_id] if run_id else list(runs)
    loads = [runs[k].get(x) for k in chosen if k in runs for x in ("load_start", "load_end")]
    loads += [p.get("load_after") for p in results.get("parts", {}).values()
              if run_id is None or p.get("run") == run_id]
    return [x for x in loads if x]


def _machine_lines(run_id: str, run: dict, results: dict | None = None) -> list[str]:
    m = run.get("machine", {})
    v = m.get("versions", {})
    tf_version = v.get("tensorflow") or v.get("tensorflow-cpu")
    ls, le = run.get("load_start"), run.get("load_end")
    cores = m.get("cores")
    seen = _loads_seen(results or {"runs": {run_id: run}}, run_id)
    busy = any(_busy(x, cores) for x in seen)
    peak = max((x[0] for x in seen), default=None)
    lines = [
        f"- run `{run_id}`: `{run.get('command', '?')}`, {run.get('started', '?')} → "
        f"{run.get('finished', 'unfinished')}",
        f"- CPU: {m.get('cpu', '?')}, {m.get('cores', '?')} logical cores"
        + (f" ({m['physical_cores']} physical)" if m.get("physical_cores") else "")
        + (f", {m['ram_gb']} GB RAM" if m.get("ram_gb") else "")
        + f"; GPU: {', '.join(m.get('gpus') or []) or 'none'}; {m.get('os', '?')}",
        f"- versions: Python {v.get('python', '?')}, torch {v.get('torch', '–')}, "
        f"torchvision {v.get('torchvision', '–')}, TensorFlow {tf_version or '–'}"
        f"{' (tensorflow-cpu)' if v.get('tensorflow-cpu') else ''}, keras {v.get('keras', '–')}, "
        f"numpy {v.get('numpy', '–')}, nbgrader {v.get('nbgrader', '–')}",
        f"- load average (1, 5, 15 min): {_fmt_load(ls)} at the start, {_fmt_load(le)} at the "
        f"end" + (f"; 1-minute load up to {peak:.1f} at the end of a part (each section gives "
                  f"its own)" if peak is not None and len(seen) > 2 else "")
        + (f" — **the machine was busy** (other jobs shared its {cores} cores): "
                  "absolute times are pessimistic, ratios measured side by side are robust."
                  if busy else "."),
    ]
    return lines


def _fmt_load(load) -> str:
    return "?" if not load else ", ".join(f"{x:.2f}" for x in load)


def render(results: dict) -> str:
    parts, runs = results.get("parts", {}), results.get("runs", {})
    out = ["# Benchmark results", "",
           "Written by `tlcourse bench` (`make bench`) from "
           "[`RESULTS.json`](RESULTS.json); do not edit by hand. Every figure below was "
           "measured by the run named in its section; nothing is copied from earlier reports. "
           f"Generated {results.get('generated') or now()}.", ""]
    out += ["## Machine", ""]
    if not runs:
        out.append("(no run recorded)")
    for run_id, run in runs.items():
        out += _machine_lines(run_id, run, results)
    if len(runs) > 1:
        which = ", ".join(f"{k} from run `{p.get('run')}`" for k, p in parts.items())
        out += ["", f"**Parts come from different runs**: {which}."]
    failed = [k for k, p in parts.items() if p.get("status") != "ok"]
    missing = [k for k in PARTS if k not in parts]
    out += ["", "## Summary", "", summary_table(results), ""]
    if failed:
        out.append(f"**Failed or partly failed parts: {', '.join(failed)}** (details below).")
        out.append("")
    if missing:
        out.append(f"Not measured yet: {', '.join(missing)}.")
        out.append("")
    for name in PARTS:
        out += [f"## {TITLES[name]}", ""]
        part = parts.get(name)
        out.append(_status_line(part))
        if part and len(runs) > 1:
            out[-1] += f" Run `{part.get('run')}`."
        if part and part.get("rows") is not None:
            out += ["", SECTIONS[name](part)]
        for note in (part or {}).get("notes", []):
            out += ["", note]
        out.append("")
    for profile, part in _profile_notebooks(results).items():
        out += [f"## {_profile_title(profile, part)}", "", _status_line(part)]
        if len(runs) > 1:
            out[-1] += f" Run `{part.get('run')}`."
        out += ["", _notebooks_by_section(part)]
        for note in part.get("notes", []):
            out += ["", note]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------
# README: the summary table between two markers
# --------------------------------------------------------------------------
README_START = "<!-- bench-summary:start (written by `tlcourse bench`) -->"
README_END = "<!-- bench-summary:end -->"


def readme_block(results: dict) -> str:
    runs = results.get("runs", {})
    when = ", ".join(sorted({str(r.get("started", "?"))[:10] for r in runs.values()})) or "?"
    loads = _loads_seen(results)
    cores = next((r.get("machine", {}).get("cores") for r in runs.values()), None)
    cpu = next((r.get("machine", {}).get("cpu") for r in runs.values()), "?")
    gpu = ", ".join(next((r.get("machine", {}).get("gpus") or [] for r in runs.values()), [])) \
        or "no GPU"
    load = (f"; 1-minute load average {min(x[0] for x in loads):.1f}–{max(x[0] for x in loads):.1f}"
            if loads else "")
    return (f"Measured {when} on {cpu}, {cores} cores, {gpu}{load} "
            f"(details, every row and the machine: [`benchmarks/RESULTS.md`]"
            f"(benchmarks/RESULTS.md)):\n\n" + summary_table(results))


def update_readme(readme: Path, results: dict) -> bool:
    """Replace the block between the markers in ``readme`` (atomically); False
    when the markers are missing (nothing is written then)."""
    readme = Path(readme)
    try:
        text = readme.read_text()
    except OSError:
        return False
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = head + README_START + "\n" + readme_block(results) + "\n" + README_END + tail
    if new != text:
        with atomic_path(readme) as tmp:
            tmp.write_text(new)
    return True
