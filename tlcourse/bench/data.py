"""Input-pipeline throughput per framework on CPU: ``tlcourse bench data``.

Images/s of decode + augment (random resized crop + flip) or decode + resize +
centre crop, at 224x224, batch 32, through each framework's ``make_loader`` on
the Cats vs Dogs data of the profile in force (stand-in in smoke).  Each
framework runs in its own subprocess (TensorFlow then torchvision in one
process crashes).  The figures go into benchmarks/RESULTS.md beside the
models' forward throughput, so one can see whether the pipeline starves training.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

TAG = "@@TLCOURSE_BENCH_DATA@@"


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
    code = (f"import json; from tlcourse.bench.data import measure, TAG; "
            f"print(TAG + json.dumps(measure({framework!r}, {train}, {workers})))")
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=900)
    except subprocess.TimeoutExpired:
        return {"framework": framework, "mode": "train" if train else "eval",
                "workers": workers, "error": "timed out after 900 s"}
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    return {"framework": framework, "mode": "train" if train else "eval", "workers": workers,
            "error": " ".join((proc.stderr or proc.stdout).strip().splitlines()[-1:])[:300]}


def measure_all(frameworks=("torch", "tf"), log=print) -> list[dict]:
    """Every (framework, workers, mode) combination, each in its own process."""
    cores = os.cpu_count() or 1
    combos = [(f, w) for f, w in (("torch", 0), ("torch", min(2, cores)), ("tf", 0))
              if f in frameworks]
    rows = []
    for framework, workers in combos:
        for train in (True, False):
            log(f"data: {framework} workers={workers} train={train} ...")
            rows.append(_run(framework, train, workers))
    return rows


def main() -> int:
    """``python -m tlcourse.bench.data`` = ``tlcourse bench data`` (into benchmarks/RESULTS.*)."""
    from tlcourse.bench import suite as bench_suite

    return bench_suite.main(["data"])


if __name__ == "__main__":
    sys.exit(main())
