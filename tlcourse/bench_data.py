"""Input-pipeline throughput per framework on CPU: ``python -m tlcourse.bench_data``.

Images/s of decode + augment (random resized crop + flip) or decode + resize +
centre crop, at 224x224, batch 32, through each framework's ``make_loader`` on
the Cats vs Dogs data of the profile in force (stand-in in smoke).  Each
framework runs in its own subprocess (TensorFlow then torchvision in one
process crashes).  Writes benchmarks/data_pipeline.md, with the models'
forward throughput from benchmarks/models.md beside it when that file exists,
so one can see whether the pipeline starves training.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

TAG = "@@TLCOURSE_BENCH_DATA@@"
OUT = Path("benchmarks") / "data_pipeline.md"


def measure(framework: str, train: bool, workers: int, batch: int = 32, images: int = 256) -> dict:
    """Run in the framework's own process: images/s over ``images`` images after one warm-up batch."""
    from tlcourse import datasets
    from tlcourse.preprocess import get_preprocess
    if framework == "torch":
        from tlcourse.torch import make_loader
    else:
        from tlcourse.tf import make_loader
    data = datasets.cats_dogs(progress=False)
    prep = get_preprocess("mobilenet_v2")
    split = data.train
    # cache off: we measure decoding every time, as an epoch over real data would
    loader = make_loader(split, prep, train=train, batch_size=batch, num_workers=workers,
                         cache=False)
    seen, t0 = 0, None
    while seen < images:
        for x, _ in loader:
            if t0 is None:             # the first batch pays for start-up
                t0 = time.perf_counter()
                continue
            seen += int(x.shape[0])
            if seen >= images:
                break
    return {"framework": framework, "mode": "train (augment)" if train else "eval (resize+crop)",
            "workers": workers, "images_per_s": seen / (time.perf_counter() - t0),
            "data": data.label}


def _run(framework: str, train: bool, workers: int) -> dict:
    code = (f"import json; from tlcourse.bench_data import measure, TAG; "
            f"print(TAG + json.dumps(measure({framework!r}, {train}, {workers})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    return {"framework": framework, "mode": "train" if train else "eval", "workers": workers,
            "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}


def main() -> int:
    cores = os.cpu_count() or 1
    rows = []
    for framework, workers in (("torch", 0), ("torch", min(2, cores)), ("tf", 0)):
        for train in (True, False):
            print(f"measuring {framework} workers={workers} train={train} ...", flush=True)
            rows.append(_run(framework, train, workers))
    lines = [
        "# Input pipeline throughput, CPU",
        "",
        f"Made by `python -m tlcourse.bench_data` on {platform.machine()} with {cores} CPU cores, "
        f"{time.strftime('%Y-%m-%d')}, profile `{os.environ.get('TLCOURSE_PROFILE', 'full')}`. "
        "Cats vs Dogs train split through each framework's `make_loader` (PIL decode, then "
        "random resized crop + flip for train, resize + centre crop for eval, to 224x224, "
        "normalised), batch 32, 256 images after a warm-up batch, in-memory cache off. "
        "tf.data workers = 0 means autotuned parallel calls. "
        f"Load average when done: {os.getloadavg()[0]:.1f} (other jobs on the machine slow "
        "every number).",
        "",
        "| framework | mode | workers | images/s | data |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ips = f"{r['images_per_s']:.0f}" if "images_per_s" in r else f"failed: {r.get('error')}"
        lines.append(f"| {r['framework']} | {r['mode']} | {r['workers']} | {ips} | "
                     f"{r.get('data', '')} |")
    models = Path("benchmarks") / "models.md"
    lines += ["", "Compare with the models' forward throughput (inference, batch 32) in "
              "[models.md](models.md): a pipeline slower than the model starves it."]
    if models.exists():
        lines += ["", "<details><summary>models.md at the time of this run</summary>", "",
                  models.read_text().strip(), "", "</details>"]
    table = "\n".join(lines) + "\n"
    print(table)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
